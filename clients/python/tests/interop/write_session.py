"""Interop, step 1 of 3 (test/e2e/interop.test.ts): a Python bridge serves a call.

Reads a spec (proto3 JSON) on stdin: {"session": Session, "update": SessionUpdate,
"audio": [base64, ...]}. Takes the call with ResumeSession(create_if_missing), writes the
update and then each audio chunk through UpdateStream, marks the session PAUSED (the
platform socket dropped) and prints the stored session (FULL), serialized and base64-encoded.
"""

from __future__ import annotations

import base64
import json
import sys

from google.protobuf import json_format

import sessionstore_client as ss

pb = ss.pb


def main(address: str) -> None:
    spec = json.load(sys.stdin)
    initial = json_format.ParseDict(spec["session"], pb.Session())
    update = json_format.ParseDict(spec["update"], pb.SessionUpdate())
    channel = ss.open_channel(address)
    stub = ss.SessionStoreServiceStub(channel)
    cid = initial.conversation_id
    taken = stub.ResumeSession(pb.ResumeSessionRequest(conversation_id=cid, owner_id="pod-python", create_if_missing=True, session=initial))
    assert taken.created, "the interop session must be new"
    with ss.UpdateStream(stub) as stream:
        stream.track(taken.session)
        writes = [
            stream.write(
                cid,
                update_mask=list(update.update_mask.paths),
                session=update.session,
                append_history=update.append_history,
                upsert_function_calls=update.upsert_function_calls,
            )
        ]
        writes += [stream.write(cid, append_audio=[base64.b64decode(chunk)]) for chunk in spec["audio"]]
        writes.append(stream.write(cid, update_mask=["status"], session=pb.Session(status=pb.SESSION_STATUS_PAUSED)))
        for write in writes:
            assert write.result(30).applied
    stored = stub.GetSession(pb.GetSessionRequest(conversation_id=cid, view=pb.SESSION_VIEW_FULL)).session
    print(base64.b64encode(stored.SerializeToString()).decode())
    channel.close()


if __name__ == "__main__":
    main(sys.argv[1])
