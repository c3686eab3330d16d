"""The same caller after the move: JSON-RPC 2.0 on /rpc, with the standard library only."""
import json
import os
import sys
import urllib.request

URL = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000/rpc"
KEY = os.environ.get("USER_RPC_KEY")  # an API key, when the service has them
login = sys.argv[2] if len(sys.argv) > 2 else "ada"


class RpcError(Exception):
    def __init__(self, code, message, data=None):
        super().__init__(f"{code} {message}")
        self.code, self.message, self.data = code, message, data


def call(method, *params):
    body = json.dumps({"jsonrpc": "2.0", "method": method, "params": params, "id": 1}).encode()
    headers = {"Content-Type": "application/json"}
    if KEY:
        headers["Authorization"] = f"Bearer {KEY}"
    with urllib.request.urlopen(urllib.request.Request(URL, body, headers)) as response:
        answer = json.load(response)
    if "error" in answer:
        raise RpcError(**answer["error"])
    return answer["result"]


user = call("create_user", login, "Ada", "Lovelace")
print(json.dumps({"created": user}))
print(json.dumps({"fetched": call("get_user", user["user_id"])}))
try:
    call("get_user", 2147483647)
except RpcError as error:
    print(json.dumps({"missing": error.message}))
