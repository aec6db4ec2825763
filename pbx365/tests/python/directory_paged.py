"""Python's ldap3 against the real `pbx365 serve`: a bound, paged search over the whole synced
directory, page by page and through ldap3's paged-search generator.

ldap3 is pinned in crates/ldap/tests/python/requirements.txt (scripts/test builds .venv from it).
Usage: directory_paged.py HOST PORT BIND_DN PASSWORD. Prints one JSON object; the Rust test
(pbx365/tests/cli/directory.rs) checks it.
"""
import json
import sys

from ldap3 import Connection, Server, SUBTREE

host, port, bind_dn, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
base = "o=main,dc=pbx365"
server = Server(host, port=port, get_info="NO_INFO", connect_timeout=10)
conn = Connection(server, user=bind_dn, password=password, receive_timeout=10,
                  raise_exceptions=False)
report = {"bound": conn.bind(), "bind_result": conn.result.get("description")}

pages = []
cookie = None
for _ in range(50):
    conn.search(base, "(objectClass=*)", SUBTREE, attributes=["cn", "telephoneNumber"],
                paged_size=4, paged_cookie=cookie)
    pages.append([e["dn"] for e in conn.response if e.get("type") == "searchResEntry"])
    ctrl = conn.result.get("controls", {}).get("1.2.840.113556.1.4.319", {})
    cookie = ctrl.get("value", {}).get("cookie")
    if not cookie:
        break
report["pages"] = pages
report["last_result"] = conn.result.get("description")

entries = conn.extend.standard.paged_search(base, "(sn=Kunde)", SUBTREE, attributes=["cn"],
                                            paged_size=5, generator=True)
report["generator"] = sorted(e["attributes"]["cn"][0] for e in entries
                             if e.get("type") == "searchResEntry")

# Number-aware: the national form finds the E.164 number.
conn.search(base, "(telephoneNumber=030 5550107)", SUBTREE, attributes=["cn"])
report["number"] = [e["attributes"]["cn"][0] for e in conn.response
                    if e.get("type") == "searchResEntry"]
conn.unbind()
print(json.dumps(report))
