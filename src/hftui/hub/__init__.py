"""A local Hub server for tests, benchmarks and the demo.

Importing this package never imports huggingface_hub or textual: the demo starts the server and
sets HF_ENDPOINT before huggingface_hub is first imported, since the library reads it at import time.
"""

from __future__ import annotations

from hftui.hub.server import Fault, HubServer, RemoteFileInfo, RequestRecord
from hftui.hub.spec import HubSpec, SpecError, load_spec

__all__ = ["Fault", "HubServer", "HubSpec", "RemoteFileInfo", "RequestRecord", "SpecError", "load_spec"]
