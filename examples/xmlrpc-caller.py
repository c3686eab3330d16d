"""A caller written for the old XML-RPC user service, unchanged but for the address."""
import json
import sys
import xmlrpc.client

server = xmlrpc.client.ServerProxy(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000/")
login = sys.argv[2] if len(sys.argv) > 2 else "ada"

user = server.create_user(login, "Ada", "Lovelace")
print(json.dumps({"created": user}))
print(json.dumps({"fetched": server.get_user(user["user_id"])}))
try:
    server.get_user(2147483647)
except xmlrpc.client.Fault as fault:
    print(json.dumps({"missing": fault.faultString}))
