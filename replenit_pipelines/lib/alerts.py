"""Posting an alert to a Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat and
most chat tools accept `{"text": ...}`): a short timeout, a retry on a dropped connection or a
5xx, and personal data masked out of the text. Plain Python: the Dagster sensors call it."""

import logging
import time

import httpx

from replenit_pipelines.lib.privacy import mask_value

log = logging.getLogger("replenit_pipelines.alerts")

ALERT_WEBHOOK_ENV = "REPLENIT_ALERT_WEBHOOK_URL"
MAX_TEXT = 3000  # Slack cuts a message's text near 40k characters; an alert should be read at a glance


def slack_payload(title: str, lines: list[str], link: str | None = None) -> dict:
    """`{"text": ...}` with a bold title, the lines, and a link to the run when known."""
    text = "\n".join([f"*{title}*", *lines, *([f"<{link}|Open in Dagster>"] if link else [])])
    text = mask_value(None, text) or ""
    return {"text": text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"}


def post_alert(url: str, payload: dict, timeout_s: float = 10.0, attempts: int = 3, pause_s: float = 1.0,
               transport: httpx.BaseTransport | None = None) -> bool:
    """POST the payload; True when the webhook answered 2xx. A dropped connection, a timeout or
    a 5xx/429 is retried (`attempts` in all); a 4xx other than 429 is not (the URL is wrong).
    Never raises: an alert that cannot be posted is logged, and must not fail the sensor's tick
    for the alerts after it. The URL is not logged (it is a secret for most webhooks)."""
    with httpx.Client(timeout=timeout_s, transport=transport) as client:
        for attempt in range(1, attempts + 1):
            try:
                resp = client.post(url, json=payload)
            except httpx.HTTPError as exc:
                problem = type(exc).__name__
            else:
                if resp.is_success:
                    return True
                problem = f"HTTP {resp.status_code}"
                if resp.status_code < 500 and resp.status_code != 429:
                    log.warning("alert webhook refused the post (%s); check %s", problem, ALERT_WEBHOOK_ENV)
                    return False
            if attempt < attempts:
                time.sleep(pause_s * attempt)
        log.warning("alert webhook unreachable after %d attempts (%s)", attempts, problem)
        return False
