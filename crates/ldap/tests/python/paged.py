"""Drives pbx365's LDAP server with Python's ldap3: bind, paged search (RFC 2696), sort.

Usage: paged.py HOST PORT. Prints one JSON object with what it saw; the Rust test checks it.
"""
import json
import sys

from ldap3 import Connection, Server, SUBTREE
from ldap3.core.exceptions import LDAPException

host, port = sys.argv[1], int(sys.argv[2])
server = Server(host, port=port, get_info="DSA", connect_timeout=10)
conn = Connection(server, user="cn=201,o=acme,dc=pbx365", password="secret201",
                  receive_timeout=10, raise_exceptions=False)
report = {"bound": conn.bind(), "bind_result": conn.result.get("description")}
report["naming_contexts"] = [str(c) for c in (server.info.naming_contexts or [])] if server.info else []

# Manual paging, page by page, to see every cookie.
pages = []
cookie = None
for _ in range(20):
    conn.search("o=acme,dc=pbx365", "(cn=Filler*)", SUBTREE, attributes=["cn", "telephoneNumber"],
                paged_size=5, paged_cookie=cookie)
    pages.append([e["attributes"]["cn"][0] for e in conn.response if e.get("type") == "searchResEntry"])
    ctrl = conn.result.get("controls", {}).get("1.2.840.113556.1.4.319", {})
    cookie = ctrl.get("value", {}).get("cookie")
    if not cookie:
        break
report["pages"] = pages
report["last_result"] = conn.result.get("description")

# The generator helper, as applications use it.
entries = list(conn.extend.standard.paged_search("o=acme,dc=pbx365", "(cn=Filler*)", SUBTREE,
                                                 attributes=["cn"], paged_size=4, generator=True))
report["generator_count"] = len([e for e in entries if e.get("type") == "searchResEntry"])

# Abandoning a paged search (size 0 with the cookie) is accepted.
conn.search("o=acme,dc=pbx365", "(cn=Filler*)", SUBTREE, attributes=["cn"], paged_size=3)
cookie = conn.result["controls"]["1.2.840.113556.1.4.319"]["value"]["cookie"]
conn.search("o=acme,dc=pbx365", "(cn=Filler*)", SUBTREE, attributes=["cn"], paged_size=0,
            paged_cookie=cookie)
report["abandon_result"] = conn.result.get("description")
conn.search("o=acme,dc=pbx365", "(cn=Filler*)", SUBTREE, attributes=["cn"], paged_size=3,
            paged_cookie=cookie)
report["after_abandon"] = conn.result.get("description")

# Number-aware lookup with ldap3's filter escaping of '+'.
conn.search("o=acme,dc=pbx365", "(telephoneNumber=+4940555123)", SUBTREE, attributes=["cn"])
report["lookup"] = [e["attributes"]["cn"][0] for e in conn.response if e.get("type") == "searchResEntry"]

# Who am I.
report["whoami"] = conn.extend.standard.who_am_i()
conn.unbind()
print(json.dumps(report))
