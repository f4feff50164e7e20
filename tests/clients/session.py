"""The README's session through the Python clients openapi-python-client generated from
openapi/auth.json and openapi/task.json (their packages on PYTHONPATH): register, log in,
create a task with an Idempotency-Key (and retry it), list, update with If-Match (a stale
one first), delete. Usage: python session.py <base-url> <username>. Prints one JSON line."""

import json
import sys

from auth_service_client import Client
from auth_service_client.api.auth import login, register
from auth_service_client.models import LoginRequest, LoginResponse, RegisterRequest, RegisterResponse
from task_service_client import AuthenticatedClient
from task_service_client.api.tasks import create_task, delete_task, get_task, list_tasks, update_task
from task_service_client.models import (
    CreateTaskRequest,
    ErrorBody,
    Message,
    Priority,
    Status,
    TaskList,
    TaskWithMessage,
    UpdateTaskRequest,
)

base, username = sys.argv[1], sys.argv[2]
password = "correct-horse-battery"


def expect(response, status, model):
    if response.status_code != status or not isinstance(response.parsed, model):
        raise SystemExit(f"expected {status} {model.__name__}, got {response.status_code}: {response.content!r}")
    return response.parsed


anon = Client(base_url=base, raise_on_unexpected_status=True)
expect(
    register.sync_detailed(
        client=anon,
        body=RegisterRequest(username=username, email=f"{username}@example.com", password=password),
    ),
    201,
    RegisterResponse,
)
token = expect(login.sync_detailed(client=anon, body=LoginRequest(username=username, password=password)), 200, LoginResponse).token

tasks = AuthenticatedClient(base_url=base, token=token, raise_on_unexpected_status=True)
new = CreateTaskRequest(title="Write the report", priority=Priority.HIGH)
created = create_task.sync_detailed(client=tasks, body=new, idempotency_key=f"{username}-1")
task = expect(created, 201, TaskWithMessage).task
retried = expect(create_task.sync_detailed(client=tasks, body=new, idempotency_key=f"{username}-1"), 201, TaskWithMessage)
assert retried.task.id == task.id, "a retry with the same Idempotency-Key answers the original task"
etag = created.headers["etag"]

listed = expect(list_tasks.sync_detailed(client=tasks, status=Status.PENDING), 200, TaskList)
assert [t.id for t in listed.tasks] == [task.id], listed

stale = update_task.sync_detailed(task.id, client=tasks, body=UpdateTaskRequest(status=Status.COMPLETED), if_match='"stale"')
assert expect(stale, 412, ErrorBody).error == "Precondition Failed"
updated = update_task.sync_detailed(task.id, client=tasks, body=UpdateTaskRequest(status=Status.COMPLETED), if_match=etag)
assert expect(updated, 200, TaskWithMessage).task.status == Status.COMPLETED

expect(delete_task.sync_detailed(task.id, client=tasks, if_match=updated.headers["etag"]), 200, Message)
missing = expect(get_task.sync_detailed(task.id, client=tasks), 404, ErrorBody)

print(json.dumps({"task": task.id, "priority": task.priority.value, "after_delete": missing.message}))
