"""sts:AssumeRoleWithWebIdentity as AWS answers it unsigned: the token is the credential.

AWS takes this call without SigV4 (botocore sends it unsigned; GitHub's OIDC flow does the
same). moto's IAM enforcement read the missing Authorization header and failed with HTTP 500.
Here an unsigned call is answered by the layer, checking what STS checks, in this order:

  check                                              | AWS error (HTTP 400 unless noted)
  ---------------------------------------------------+-------------------------------------
  RoleArn, RoleSessionName, WebIdentityToken given   | ValidationError
  the token is a JWT (three base64url parts, JSON)   | InvalidIdentityToken "The ID Token
                                                     | provided is not a valid JWT. (You may
                                                     | see this error if you sent an Access
                                                     | Token)" (wording recalled, not verified)
  an IAM OIDC provider has the token's `iss`         | InvalidIdentityToken "No OpenIDConnect
                                                     | provider found in your account for <iss>"
  the token's `aud` is in the provider's client ids  | InvalidIdentityToken "Incorrect token
                                                     | audience"
  `exp` is in the future                             | ExpiredTokenException "Token expired:
                                                     | current date/time <now> must be before
                                                     | the expiration date/time <exp>"
                                                     | (wording not verified)
  the role's trust policy allows the provider        | 403 AccessDenied "Not authorized to
  (Principal.Federated) sts:AssumeRoleWithWeb-       | perform sts:AssumeRoleWithWebIdentity"
  Identity, conditions on `<host>:aud`, `:sub`       |
  (sources: aws-actions/configure-aws-credentials#721, mozilla-iam/mozilla-aws-cli#127 for the
  provider message and the XML shape; awslabs/amazon-eks-irsa-cfn#18 for the audience one)

The token's signature is not verified (the sandbox has no issuer's JWKS); everything else
is. A signed call keeps moto's behaviour (it issues credentials without looking at the token).
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from moto.core.models import DEFAULT_ACCOUNT_ID

from runnerfleet.strictaws.conditions import ConditionContext, conditions_hold

ACTION = "sts:AssumeRoleWithWebIdentity"
STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"
PARTITION = "aws"
Answer = tuple[int, list[tuple[str, str]], bytes]


class Refused(Exception):
    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def error(code: str, message: str, status: int) -> Answer:
    rid = str(uuid.uuid4())
    body = (
        f'<ErrorResponse xmlns="{STS_NS}"><Error><Type>Sender</Type><Code>{_xml(code)}</Code>'
        f"<Message>{_xml(message)}</Message></Error><RequestId>{rid}</RequestId></ErrorResponse>"
    ).encode()
    return status, [("Content-Type", "text/xml"), ("x-amzn-RequestId", rid)], body


def claims_of(token: str) -> dict[str, Any]:
    """The JWT's payload (its header must parse too); Refused when it is no JWT."""
    parts = token.split(".")
    try:
        if len(parts) != 3:
            raise ValueError("not three parts")
        decoded = [json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4))) for p in parts[:2]]
        if not all(isinstance(d, dict) for d in decoded):
            raise ValueError("not JSON objects")
    except ValueError as exc:
        raise Refused(
            "InvalidIdentityToken",
            "The ID Token provided is not a valid JWT. (You may see this error if you sent an "
            "Access Token)",
        ) from exc
    payload: dict[str, Any] = decoded[1]
    return payload


def _provider(iss: str, account: str) -> Any:
    from moto.iam.models import iam_backends

    host = iss.removeprefix("https://").rstrip("/")
    for provider in iam_backends[account][PARTITION].open_id_providers.values():
        if str(provider.url).rstrip("/") == host:
            return provider
    raise Refused(
        "InvalidIdentityToken", f"No OpenIDConnect provider found in your account for {iss}"
    )


def _trusted(role: Any, provider_arn: str, context: ConditionContext) -> bool:
    from moto.iam.access_control import IAMPolicyStatement

    doc = role.assume_role_policy_document
    doc = json.loads(doc) if isinstance(doc, str) else doc
    statements = doc.get("Statement", [])
    allowed = False
    for st in statements if isinstance(statements, list) else [statements]:
        principal = st.get("Principal") or {}
        federated = principal.get("Federated") if isinstance(principal, Mapping) else None
        names = federated if isinstance(federated, list) else [federated]
        if principal != "*" and provider_arn not in names:
            continue
        if not IAMPolicyStatement(st)._check_element_matches("Action", ACTION):
            continue
        allow = st.get("Effect") == "Allow"
        if not conditions_hold(st.get("Condition"), allow, context):
            continue
        if not allow:
            return False
        allowed = True
    return allowed


def assume(params: Mapping[str, str], region: str, account: str = DEFAULT_ACCOUNT_ID) -> Answer:
    """The answer to an unsigned AssumeRoleWithWebIdentity with these parameters."""
    try:
        return _assume(params, region, account)
    except Refused as refused:
        return error(refused.code, refused.message, refused.status)


def _assume(params: Mapping[str, str], region: str, account: str) -> Answer:
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends

    for key, member in (
        ("RoleArn", "roleArn"),
        ("RoleSessionName", "roleSessionName"),
        ("WebIdentityToken", "webIdentityToken"),
    ):
        if not params.get(key):
            raise Refused(
                "ValidationError",
                f"1 validation error detected: Value null at '{member}' failed to satisfy "
                "constraint: Member must not be null",
            )
    claims = claims_of(params["WebIdentityToken"])
    iss = str(claims.get("iss", ""))
    provider = _provider(iss, account)
    audiences = claims.get("aud")
    audiences = audiences if isinstance(audiences, list) else [audiences]
    if not set(map(str, audiences)) & set(provider.client_id_list):
        raise Refused("InvalidIdentityToken", "Incorrect token audience")
    exp = claims.get("exp")
    if isinstance(exp, int | float) and exp <= time.time():
        now, until = (
            datetime.fromtimestamp(t, UTC).strftime("%a %b %d %H:%M:%S UTC %Y")
            for t in (time.time(), exp)
        )
        raise Refused(
            "ExpiredTokenException",
            f"Token expired: current date/time {now} must be before the expiration date/time "
            f"{until}",
        )
    host = str(provider.url).rstrip("/")
    context = ConditionContext(
        {f"{host}:{k}": str(v) for k, v in claims.items() if isinstance(v, str | int)}
        | {f"{host}:aud": str(audiences[0])},
        (f"{host}:",),
    )
    denied = Refused("AccessDenied", f"Not authorized to perform {ACTION}", 403)
    try:
        role = iam_backends[account][PARTITION].get_role_by_arn(params["RoleArn"])
    except Exception as exc:
        raise denied from exc
    if not _trusted(role, str(provider.arn), context):
        raise denied
    assumed = sts_backends[account][PARTITION].assume_role_with_web_identity(
        region_name=region,
        role_session_name=params["RoleSessionName"],
        role_arn=params["RoleArn"],
        policy=params.get("Policy", ""),
        duration=int(params.get("DurationSeconds") or 3600),
        external_id="",
    )
    rid = str(uuid.uuid4())
    expiration = assumed.expiration.strftime("%Y-%m-%dT%H:%M:%SZ")
    body = (
        f'<AssumeRoleWithWebIdentityResponse xmlns="{STS_NS}"><AssumeRoleWithWebIdentityResult>'
        f"<SubjectFromWebIdentityToken>{_xml(str(claims.get('sub', '')))}"
        "</SubjectFromWebIdentityToken>"
        f"<Audience>{_xml(str(audiences[0]))}</Audience>"
        f"<AssumedRoleUser><Arn>{_xml(str(assumed.arn))}</Arn>"
        f"<AssumedRoleId>{_xml(str(role.id))}:{_xml(params['RoleSessionName'])}</AssumedRoleId>"
        "</AssumedRoleUser>"
        f"<Credentials><AccessKeyId>{assumed.access_key_id}</AccessKeyId>"
        f"<SecretAccessKey>{assumed.secret_access_key}</SecretAccessKey>"
        f"<SessionToken>{assumed.session_token}</SessionToken>"
        f"<Expiration>{expiration}</Expiration></Credentials>"
        f"<Provider>{_xml(iss)}</Provider>"
        "</AssumeRoleWithWebIdentityResult>"
        f"<ResponseMetadata><RequestId>{rid}</RequestId></ResponseMetadata>"
        "</AssumeRoleWithWebIdentityResponse>"
    ).encode()
    return 200, [("Content-Type", "text/xml"), ("x-amzn-RequestId", rid)], body
