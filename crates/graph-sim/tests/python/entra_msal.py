"""Microsoft's own identity libraries against the emulator's Entra endpoints.

Proves that azure-identity's `ClientSecretCredential` and `CertificateCredential` (a client
assertion signed with a registered certificate), MSAL's `PublicClientApplication` device-code
flow (ID-token validation, cache, refresh-token redemption) and MSAL's
`ConfidentialClientApplication` authorization-code flow (state, nonce, PKCE) work against
graph-sim with only the authority changed (HTTPS, its CA trusted through
REQUESTS_CA_BUNDLE/SSL_CERT_FILE, instance discovery off).

Inputs (environment): SIM_AUTHORITY (https://127.0.0.1:PORT), SIM_TENANT, SIM_CLIENT_ID,
SIM_CLIENT_SECRET, SIM_CERT_CLIENT_ID, SIM_CERT_PEM (file with the private key and
certificate), SIM_PUBLIC_CLIENT_ID, SIM_WEB_CLIENT_ID, SIM_WEB_SECRET, SIM_REDIRECT,
SIM_ADMIN_KEY, SIM_USER. Prints one JSON line with what it saw; exits non-zero on any failure.
"""

import base64
import json
import os
import sys

import msal
import requests
from urllib.parse import parse_qsl, urlsplit

from azure.identity import CertificateCredential, ClientSecretCredential


def fail(msg):
    print(json.dumps({"ok": False, "error": msg}))
    sys.exit(1)


def claims(jwt):
    part = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def main():
    env = os.environ
    authority = env["SIM_AUTHORITY"]
    tenant = env["SIM_TENANT"]

    # 1. App-only token with a client secret.
    secret_token = ClientSecretCredential(
        tenant,
        env["SIM_CLIENT_ID"],
        env["SIM_CLIENT_SECRET"],
        authority=authority,
        disable_instance_discovery=True,
    ).get_token("https://graph.microsoft.com/.default").token
    if claims(secret_token)["appid"] != env["SIM_CLIENT_ID"]:
        fail("the secret credential's token is for another app")

    # 1b. App-only token with a certificate credential (MSAL builds and signs the assertion).
    cred = CertificateCredential(
        tenant,
        env["SIM_CERT_CLIENT_ID"],
        certificate_path=env["SIM_CERT_PEM"],
        authority=authority,
        disable_instance_discovery=True,
    )
    app_token = cred.get_token("https://graph.microsoft.com/.default").token
    roles = claims(app_token).get("roles", [])

    # 2. Device code with MSAL: start, approve through the emulator's control, redeem.
    app = msal.PublicClientApplication(
        env["SIM_PUBLIC_CLIENT_ID"],
        authority=f"{authority}/{tenant}",
        instance_discovery=False,
    )
    flow = app.initiate_device_flow(scopes=["User.Read"])
    if "user_code" not in flow:
        fail(f"device flow did not start: {flow}")
    r = requests.post(
        f"{authority}/_sim/devicecode/approve",
        json={"userCode": flow["user_code"], "userId": env["SIM_USER"]},
        headers={"x-sim-key": env["SIM_ADMIN_KEY"]},
        timeout=30,
    )
    if r.status_code != 204:
        fail(f"approve answered {r.status_code}: {r.text}")
    result = app.acquire_token_by_device_flow(flow)
    if "access_token" not in result:
        fail(f"device flow failed: {result}")
    accounts = app.get_accounts()
    if len(accounts) != 1:
        fail(f"expected one cached account, got {accounts}")
    # 3. Refresh: MSAL redeems the cached refresh token for a new access token.
    again = app.acquire_token_silent(["User.Read"], account=accounts[0], force_refresh=True)
    if not again or "access_token" not in again:
        fail(f"silent refresh failed: {again}")

    # 4. Authorization code + PKCE with a confidential web app; the emulator signs the
    #    login_hint user in without a page and redirects back at once.
    web = msal.ConfidentialClientApplication(
        env["SIM_WEB_CLIENT_ID"],
        client_credential=env["SIM_WEB_SECRET"],
        authority=f"{authority}/{tenant}",
        instance_discovery=False,
    )
    code_flow = web.initiate_auth_code_flow(
        ["User.Read"], redirect_uri=env["SIM_REDIRECT"], login_hint=env["SIM_USER"]
    )
    resp = requests.get(code_flow["auth_uri"], allow_redirects=False, timeout=30)
    if resp.status_code != 302:
        fail(f"authorize answered {resp.status_code}: {resp.text}")
    back = dict(parse_qsl(urlsplit(resp.headers["Location"]).query))
    web_result = web.acquire_token_by_auth_code_flow(code_flow, back)
    if "access_token" not in web_result:
        fail(f"auth code flow failed: {web_result}")

    print(
        json.dumps(
            {
                "ok": True,
                "web_username": web_result["id_token_claims"]["preferred_username"],
                "roles": roles,
                "username": result["id_token_claims"]["preferred_username"],
                "scp": claims(result["access_token"])["scp"],
                "refreshed": again["access_token"] != result["access_token"],
                "token_source": again.get("token_source"),
            }
        )
    )


if __name__ == "__main__":
    main()
