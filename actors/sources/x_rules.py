"""X filtered-stream rules: build them from the tracked symbols and make exactly them active (idempotent)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from actors.sources import x
from actors.sources.config import XConfig, XStreamRule
from actors.sources.http_client import HttpClient
from pipelines.sentiment.symbols import ALIASES, CASE_SENSITIVE_NAMES

logger = logging.getLogger(__name__)

RULE_TAG_PREFIX = "coinray-"


def build_stream_rules(bases: Iterable[str], *, max_chars: int = 512,
                       suffix: str = "lang:en -is:retweet") -> tuple[XStreamRule, ...]:
    """Rules matching the cashtags and unambiguous names of ``bases``, each at most ``max_chars`` long.

    Every base contributes its cashtag (``$BTC``) and its curated names that are not ordinary words
    (``bitcoin``, ``ethereum``; ``polygon`` or ``cosmos`` would match far too much). Terms are OR-ed
    in sorted order and packed greedily into as few rules as fit, tagged ``coinray-1``, ``coinray-2``...

    Parameters
    ----------
    bases:
        Base currencies (``BTC``); duplicates and case are ignored.
    max_chars:
        The tier's rule length limit (512 on Basic, 1024 on Pro).
    suffix:
        Operators appended to every rule.

    Examples
    --------
    >>> [r.value for r in build_stream_rules(["ETH", "BTC"], max_chars=64)]
    ['($BTC OR $ETH OR bitcoin OR bitcoins) lang:en -is:retweet', '(ether OR ethereum OR xbt) lang:en -is:retweet']
    """
    unique = sorted({b.upper() for b in bases if b})
    cashtags = [f"${b}" for b in unique]
    names = sorted({_quoted(alias) for b in unique for alias in ALIASES.get(b, ())
                    if alias not in CASE_SENSITIVE_NAMES and alias.upper() != b and alias.upper() not in unique})
    rules: list[list[str]] = []
    for term in cashtags + names:
        if rules and len(_rule_value(rules[-1] + [term], suffix)) <= max_chars:
            rules[-1].append(term)
            continue
        if len(_rule_value([term], suffix)) > max_chars:
            raise ValueError(f"term {term!r} does not fit a {max_chars}-character rule with suffix {suffix!r}")
        rules.append([term])
    return tuple(XStreamRule(value=_rule_value(terms, suffix), tag=f"{RULE_TAG_PREFIX}{i}")
                 for i, terms in enumerate(rules, start=1))


def _quoted(alias: str) -> str:
    return f'"{alias}"' if " " in alias else alias


def _rule_value(terms: Sequence[str], suffix: str) -> str:
    return f"({' OR '.join(terms)}) {suffix}".strip()


@dataclass(frozen=True)
class RulePlan:
    """What to change so that the active rules are exactly the wanted ones."""

    add: tuple[XStreamRule, ...]
    delete_ids: tuple[str, ...]

    @property
    def empty(self) -> bool:
        """True when the active rules are already the wanted ones."""
        return not self.add and not self.delete_ids


def plan_rule_changes(active: Sequence[x.ActiveRule], wanted: Sequence[XStreamRule]) -> RulePlan:
    """Rules to add and rule ids to delete; a rule is kept only when its value *and* tag are wanted.

    Rules nobody asked for (another app's, or an older symbol set's) are deleted; an active rule
    listed twice is kept once.

    >>> plan = plan_rule_changes([x.ActiveRule("1", "$BTC", "coinray-1"), x.ActiveRule("2", "$DOGE", None)],
    ...                          [XStreamRule(value="$BTC", tag="coinray-1"), XStreamRule(value="$ETH")])
    >>> [r.value for r in plan.add], plan.delete_ids
    (['$ETH'], ('2',))
    """
    wanted_keys = {(r.value, r.tag) for r in wanted}
    kept: set[tuple[str, str | None]] = set()
    delete: list[str] = []
    for current in active:
        key = (current.value, current.tag)
        if key in wanted_keys and key not in kept:
            kept.add(key)
        else:
            delete.append(current.id)
    seen: set[tuple[str, str | None]] = set()
    add: list[XStreamRule] = []
    for rule in wanted:
        key = (rule.value, rule.tag)
        if key not in kept and key not in seen:
            seen.add(key)
            add.append(rule)
    return RulePlan(tuple(add), tuple(delete))


def sync_rules(client: HttpClient, cfg: XConfig, wanted: Sequence[XStreamRule]) -> RulePlan:
    """Make ``wanted`` exactly the active rules: GET them, POST deletes, then POST adds.

    Deletes go first so that a changed rule (same value, new tag) does not collide as a duplicate.
    Running it again with the same rules sends only the GET.

    Raises
    ------
    ConfigError
        On rejected credentials or rules X refuses (syntax, length, rule count), naming them.
    TransientError
        On network failures and other HTTP errors (retry later).
    """
    url = f"{cfg.api_url}/tweets/search/stream/rules"
    headers = _auth(cfg)
    plan = plan_rule_changes(x.parse_rules(client.request("GET", url, headers=headers).body), wanted)
    post_headers = {**headers, "Content-Type": "application/json"}
    if plan.delete_ids:
        body = json.dumps({"delete": {"ids": list(plan.delete_ids)}}).encode()
        x.parse_rules_update(client.request("POST", url, headers=post_headers, data=body).body)
    if plan.add:
        add = [{"value": r.value, **({"tag": r.tag} if r.tag is not None else {})} for r in plan.add]
        x.parse_rules_update(client.request("POST", url, headers=post_headers,
                                            data=json.dumps({"add": add}).encode()).body)
    logger.info("x stream: rules synced (%d wanted, %d added, %d deleted)",
                len(wanted), len(plan.add), len(plan.delete_ids))
    return plan


def _auth(cfg: XConfig) -> dict[str, str]:
    if cfg.bearer_token is None:
        raise ValueError("x needs a bearer token")
    return {"Authorization": f"Bearer {cfg.bearer_token.get_secret_value()}"}
