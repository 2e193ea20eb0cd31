"""ClientConfig's checks, before any request: each bad setting refused on its own, with a message
that says what to set; plain http only for a loopback sandbox, `localhost` included."""

import pytest

from replenit_pipelines.lib.delivery import ClientConfig, DeliveryConfigError
from replenit_pipelines.lib.delivery.config import ApiKey

TENANT = "0f8fad5b-d9cb-469f-a165-70867728950e"


def config(**kw) -> ClientConfig:
    kw.setdefault("base_url", "https://api.replen.it")
    kw.setdefault("tenant_id", TENANT)
    return ClientConfig(api_key="k", **kw)


def test_a_tenant_id_that_is_no_guid_is_refused_with_the_setting_and_an_example():
    with pytest.raises(DeliveryConfigError) as info:
        config(tenant_id="acme")
    assert str(info.value) == ("tenant id 'acme' is not a GUID: set REPLENIT_TENANT_ID to your tenant's id, "
                               "e.g. 0f8fad5b-d9cb-469f-a165-70867728950e")


@pytest.mark.parametrize("url", ["http://localhost:8765", "http://localhost", "http://127.0.0.1:8765", "http://[::1]:8765"])
def test_plain_http_is_allowed_for_a_loopback_sandbox_named_or_numbered(url):
    assert config(base_url=url + "/").base_url == url


@pytest.mark.parametrize("url", ["http://localhost.example.com", "http://10.0.0.1:8765"])
def test_plain_http_elsewhere_is_refused(url):
    with pytest.raises(DeliveryConfigError, match=r"must use https \(plain http is allowed only for a loopback sandbox\)$"):
        config(base_url=url)


@pytest.mark.parametrize("setting", [{"max_attempts": 0}, {"max_in_flight": 0}, {"max_attempts": 0, "max_in_flight": 0}])
def test_attempts_and_requests_in_flight_below_one_are_each_refused(setting):
    with pytest.raises(DeliveryConfigError, match=r"^max_attempts and max_in_flight must be at least 1$"):
        config(**setting)


@pytest.mark.parametrize("window", [(100, 0), (100, -60), (0, 60)])
def test_a_rate_limit_window_of_no_requests_or_no_time_is_refused(window):
    with pytest.raises(DeliveryConfigError, match=rf"^rate-limit window {window[0]}/{window[1]} must be positive$"):
        config(limits=(window,))
    assert config(limits=((1, 0.5),)).limits == ((1, 0.5),)


def test_an_api_key_may_hold_every_visible_ascii_character_the_first_and_last_included():
    visible = "".join(chr(c) for c in range(ord("!"), ord("~") + 1))  # "!" .. "~": what a header carries
    assert ApiKey(visible).reveal() == visible
    assert ApiKey(" !k~ ").reveal() == "!k~"


@pytest.mark.parametrize("url", ["api.replen.it", "ftp://api.replen.it", "https://"])
def test_a_base_url_that_is_no_http_url_is_refused_with_an_example(url):
    with pytest.raises(DeliveryConfigError) as info:
        config(base_url=url)
    assert str(info.value) == f"base URL {url!r} is not an http(s) URL, e.g. https://api.replen.it"


def test_an_empty_or_unsendable_api_key_is_told_what_to_set_without_echoing_the_key():
    with pytest.raises(DeliveryConfigError) as info:
        ApiKey("  ")
    assert str(info.value) == "the Replenit API key is empty: set REPLENIT_API_KEY to the key from your Replenit account"
    with pytest.raises(DeliveryConfigError) as info:
        ApiKey("abc\u2019def")
    assert str(info.value) == (
        "the Replenit API key holds a character an HTTP header cannot carry (a line break, a space, "
        "a curly quote or other non-ASCII character): set REPLENIT_API_KEY to the key exactly as "
        "your Replenit account shows it")


def test_a_client_from_an_environment_without_its_settings_names_each_one_missing_and_what_it_is(monkeypatch):
    from replenit_pipelines.lib.delivery import client_from_env
    from replenit_pipelines.lib.settings import Settings

    monkeypatch.delenv("REPLENIT_API_KEY", raising=False)
    with pytest.raises(DeliveryConfigError) as info:
        client_from_env(settings=Settings.from_env({}))
    assert str(info.value) == (
        "set REPLENIT_BASE_URL (the Replenit API address), REPLENIT_TENANT_ID (your tenant id), REPLENIT_API_KEY (your API key)"
    )
    monkeypatch.setenv("REPLENIT_API_KEY", "k")
    with pytest.raises(DeliveryConfigError) as info:
        client_from_env(settings=Settings.from_env({"REPLENIT_TENANT_ID": TENANT}))
    assert str(info.value) == "set REPLENIT_BASE_URL (the Replenit API address)"
