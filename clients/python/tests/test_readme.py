"""The README's Python snippets run as shown against a real sidecar, and what they stored is
checked: the threaded one is a whole program; the asyncio one defines serve_call, run here with
the names it takes from the first (POD, frame, hang_up) given. (test/e2e/doc-snippets.test.ts
runs each block as well, through the installed wheel, but only as a program that must not fail.)"""

from __future__ import annotations

import asyncio
import re
from typing import List

import sessionstore_client as ss

from helpers import frame
from sidecar import REPO, Sidecar

pb = ss.pb
README_ADDRESS = "127.0.0.1:50051"


def python_blocks() -> List[str]:
    """The ```python blocks of the README's Python section, in order."""
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("### Python") : readme.index("### Go")]
    return re.findall(r"^```python\n(.*?)^```$", section, flags=re.S | re.M)


def _run(block: str, sidecar: Sidecar, **names) -> dict:
    assert README_ADDRESS in block, "a snippet dials the README's address: the test points it at its sidecar"
    namespace = {"POD": "pod-a", "frame": frame(1), "hang_up": lambda info: None, **names}
    exec(compile(block.replace(README_ADDRESS, sidecar.address), "README.md", "exec"), namespace)
    return namespace


def test_the_readme_has_the_threaded_and_the_asyncio_snippet():
    blocks = python_blocks()
    assert len(blocks) == 2 and "import sessionstore_client as ss" in blocks[0] and "import sessionstore_client.aio as ssa" in blocks[1]


def test_the_threaded_snippet(sidecar: Sidecar, stub):
    # A whole program: it names its own call, writes a frame, ends the call and shows the refused resume.
    namespace = _run(python_blocks()[0], sidecar)
    session = stub.GetSession(pb.GetSessionRequest(conversation_id=namespace["call_id"])).session
    assert ([c.data for c in session.audio_buffer], session.status) == ([namespace["frame"]], pb.SESSION_STATUS_ENDED)


def test_the_asyncio_snippet(sidecar: Sidecar, stub, new_id):
    call_id = new_id()
    namespace = _run(python_blocks()[1], sidecar)
    asyncio.run(namespace["serve_call"](call_id))
    session = stub.GetSession(pb.GetSessionRequest(conversation_id=call_id)).session
    assert ([c.data for c in session.audio_buffer], session.last_seq) == ([frame(1), frame(1)], 2)
