"""Microsoft's Python Graph SDK against the emulator.

Proves that a client written for Microsoft works against graph-sim unchanged except for its
base URLs: `ClientSecretCredential` gets its token from the emulator's HTTPS authority (its CA
trusted through REQUESTS_CA_BUNDLE/SSL_CERT_FILE, instance discovery off), and
`GraphServiceClient` lists every user through paging, reads one user's contacts, and runs a
users delta round after a change.

Inputs (environment): SIM_AUTHORITY (https://127.0.0.1:PORT), SIM_GRAPH (…/v1.0),
SIM_TENANT, SIM_CLIENT_ID, SIM_CLIENT_SECRET, SIM_EXPECT_USERS, SIM_CONTACTS_USER.
Prints one JSON line with what it saw; exits non-zero on any mismatch.
"""

import asyncio
import json
import os
import sys

from azure.identity.aio import ClientSecretCredential
from kiota_authentication_azure.azure_identity_authentication_provider import (
    AzureIdentityAuthenticationProvider,
)
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.models.user import User
from msgraph.generated.users.users_request_builder import UsersRequestBuilder
from kiota_abstractions.base_request_configuration import RequestConfiguration


def fail(msg):
    print(json.dumps({"ok": False, "error": msg}))
    sys.exit(1)


async def main():
    env = os.environ
    cred = ClientSecretCredential(
        env["SIM_TENANT"],
        env["SIM_CLIENT_ID"],
        env["SIM_CLIENT_SECRET"],
        authority=env["SIM_AUTHORITY"],
        disable_instance_discovery=True,
    )
    auth = AzureIdentityAuthenticationProvider(
        cred,
        scopes=["https://graph.microsoft.com/.default"],
        allowed_hosts=["127.0.0.1", "localhost"],
    )
    adapter = GraphRequestAdapter(auth)
    adapter.base_url = env["SIM_GRAPH"]
    client = GraphServiceClient(request_adapter=adapter)

    # 1. Every user, through paging at $top=999.
    query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(top=999)
    page = await client.users.get(request_configuration=RequestConfiguration(query_parameters=query))
    ids, pages = [], 0
    while page is not None:
        pages += 1
        ids.extend(u.id for u in page.value or [])
        if not page.odata_next_link:
            break
        page = await client.users.with_url(page.odata_next_link).get()
    expect = int(env["SIM_EXPECT_USERS"])
    if len(ids) != expect or len(set(ids)) != expect:
        fail(f"listed {len(ids)} users ({len(set(ids))} distinct), expected {expect}")

    # 2. One user's contacts (default folder), all pages.
    who = env["SIM_CONTACTS_USER"]
    contacts = await client.users.by_user_id(who).contacts.get()
    names = []
    while contacts is not None:
        names.extend(c.display_name for c in contacts.value or [])
        if not contacts.odata_next_link:
            break
        contacts = await client.users.by_user_id(who).contacts.with_url(contacts.odata_next_link).get()

    # 3. Users delta: initial round to the deltaLink, a change, then the next round.
    delta = await client.users.delta.get()
    initial = 0
    while True:
        initial += len(delta.value or [])
        if delta.odata_next_link:
            delta = await client.users.delta.with_url(delta.odata_next_link).get()
            continue
        delta_link = delta.odata_delta_link
        break
    if not delta_link:
        fail("the initial delta round ended without an @odata.deltaLink")
    target = ids[0]
    await client.users.by_user_id(target).patch(User(job_title="Changed by the Python SDK"))
    changed = await client.users.delta.with_url(delta_link).get()
    seen = []
    while True:
        seen.extend((u.id, u.job_title) for u in changed.value or [])
        if changed.odata_next_link:
            changed = await client.users.delta.with_url(changed.odata_next_link).get()
            continue
        break
    if seen != [(target, "Changed by the Python SDK")]:
        fail(f"the delta round after one change returned {seen!r}")
    await cred.close()
    print(json.dumps({
        "ok": True,
        "users": len(ids),
        "userPages": pages,
        "contacts": len(names),
        "initialDelta": initial,
        "deltaChanges": len(seen),
    }))


asyncio.run(main())
