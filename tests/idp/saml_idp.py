"""The SAML 2.0 identity provider the single sign-on tests start: HTTP-Redirect AuthnRequests in, signed
assertions out by HTTP-POST, the way AWS IAM Identity Center, Okta and Entra ID answer.

Signing is python3-saml's (xmlsec): the same XML-DSig an IdP produces. The sign-in page takes a user name
(no password: the tests' users are in a JSON file they may rewrite between sign-ins, e.g. a group removed).

    python saml_idp.py <port> <config.json>
    config: {"entity_id", "sp_entity_id", "key_file", "cert_file", "users_file"}
    users file: {"<name>": {"email": "...", "groups": ["..."]}}
"""

import html
import json
import sys
import uuid
from base64 import b64encode
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from onelogin.saml2.constants import OneLogin_Saml2_Constants as C
from onelogin.saml2.utils import OneLogin_Saml2_Utils
from onelogin.saml2.xml_utils import OneLogin_Saml2_XML

PORT = int(sys.argv[1])
CONFIG = json.loads(Path(sys.argv[2]).read_text())
BASE = f"http://127.0.0.1:{PORT}"
KEY = Path(CONFIG["key_file"]).read_text()
CERT = Path(CONFIG["cert_file"]).read_text()
CERT_BODY = "".join(line for line in CERT.splitlines() if "-----" not in line)


def _instant(delta: timedelta = timedelta()) -> str:
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def metadata() -> str:
    return f"""<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{CONFIG['entity_id']}">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol" WantAuthnRequestsSigned="false">
    <md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data>
      <ds:X509Certificate>{CERT_BODY}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{BASE}/sso"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"""


def signed_response(*, request_id: str, acs: str, name: str, user: dict) -> str:
    """A Response with one signed Assertion: subject, audience, and email/username/groups attributes."""
    esc = html.escape
    values = "".join(f'<saml:AttributeValue xsi:type="xs:string">{esc(g)}</saml:AttributeValue>' for g in user["groups"])
    assertion = f"""<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xs="http://www.w3.org/2001/XMLSchema" ID="_a{uuid.uuid4().hex}" Version="2.0" IssueInstant="{_instant()}">
<saml:Issuer>{esc(CONFIG['entity_id'])}</saml:Issuer>
<saml:Subject>
<saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">{esc(user['email'])}</saml:NameID>
<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">
<saml:SubjectConfirmationData NotOnOrAfter="{_instant(timedelta(minutes=5))}" Recipient="{esc(acs)}" InResponseTo="{esc(request_id)}"/>
</saml:SubjectConfirmation>
</saml:Subject>
<saml:Conditions NotBefore="{_instant(timedelta(minutes=-1))}" NotOnOrAfter="{_instant(timedelta(minutes=5))}">
<saml:AudienceRestriction><saml:Audience>{esc(CONFIG['sp_entity_id'])}</saml:Audience></saml:AudienceRestriction>
</saml:Conditions>
<saml:AuthnStatement AuthnInstant="{_instant()}" SessionIndex="_s{uuid.uuid4().hex}">
<saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext>
</saml:AuthnStatement>
<saml:AttributeStatement>
<saml:Attribute Name="email"><saml:AttributeValue xsi:type="xs:string">{esc(user['email'])}</saml:AttributeValue></saml:Attribute>
<saml:Attribute Name="username"><saml:AttributeValue xsi:type="xs:string">{esc(name)}</saml:AttributeValue></saml:Attribute>
<saml:Attribute Name="groups">{values}</saml:Attribute>
</saml:AttributeStatement>
</saml:Assertion>"""
    signed = OneLogin_Saml2_Utils.add_sign(assertion, KEY, CERT, sign_algorithm=C.RSA_SHA256, digest_algorithm=C.SHA256)
    signed = signed.decode() if isinstance(signed, bytes) else signed
    signed = signed.split("?>", 1)[-1] if signed.startswith("<?xml") else signed
    return f"""<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r{uuid.uuid4().hex}" Version="2.0" IssueInstant="{_instant()}" Destination="{esc(acs)}" InResponseTo="{esc(request_id)}">
<saml:Issuer>{esc(CONFIG['entity_id'])}</saml:Issuer>
<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>
{signed}
</samlp:Response>"""


class Handler(BaseHTTPRequestHandler):
    def _send(self, status: int, body: str, content_type: str = "text/html; charset=utf-8") -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/metadata":
            return self._send(200, metadata(), "application/samlmetadata+xml")
        if url.path != "/sso":
            return self._send(404, "not found", "text/plain")
        query = parse_qs(url.query)
        saml_request, relay = query.get("SAMLRequest", [""])[0], query.get("RelayState", [""])[0]
        self._send(200, f"""<!doctype html><title>Test IdP sign-in</title><h1>Test IdP</h1>
<form method="post" action="/sso"><label>User name <input name="user" required autofocus></label>
<input type="hidden" name="SAMLRequest" value="{html.escape(saml_request)}">
<input type="hidden" name="RelayState" value="{html.escape(relay)}">
<button type="submit">Sign in at the IdP</button></form>""")

    def do_POST(self) -> None:
        form = parse_qs(self.rfile.read(int(self.headers.get("Content-Length", 0))).decode())
        name = form.get("user", [""])[0]
        users = json.loads(Path(CONFIG["users_file"]).read_text())
        if name not in users:
            return self._send(403, "unknown user", "text/plain")
        request = OneLogin_Saml2_XML.to_etree(OneLogin_Saml2_Utils.decode_base64_and_inflate(form["SAMLRequest"][0]))
        acs = request.get("AssertionConsumerServiceURL")
        response = signed_response(request_id=request.get("ID"), acs=acs, name=name, user=users[name])
        relay = form.get("RelayState", [""])[0]
        self._send(200, f"""<!doctype html><title>Signing in</title>
<form method="post" action="{html.escape(acs)}">
<input type="hidden" name="SAMLResponse" value="{b64encode(response.encode()).decode()}">
<input type="hidden" name="RelayState" value="{html.escape(relay)}">
<button type="submit">Continue to the application</button></form>""")

    def log_message(self, *args) -> None:  # quiet: the tests read their own output
        pass


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
    print(f"saml idp listening on {BASE}", flush=True)
    server.serve_forever()
