"""What the API's error responses say: the message and the per-field problem details."""

import httpx


def api_message(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return ""
    return body.get("message", "") if isinstance(body, dict) else ""


def problem_errors(resp: httpx.Response) -> dict[str, list[str]]:
    try:
        errors = resp.json().get("errors") or {}
    except (ValueError, AttributeError):
        return {}
    if not isinstance(errors, dict):
        return {}
    return {str(k): [str(m) for m in (v if isinstance(v, list) else [v])] for k, v in errors.items()}
