"""Real-format API payloads (RSS, CryptoPanic, Reddit, X) built from the staged news and tweets."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape


def read_cryptonews(shared: Path, n: int) -> list[dict[str, str]]:
    """The newest ``n`` articles of the semicolon-separated Crypto News+ file, with ``ts_ms`` added."""
    path = shared / "news" / "cryptonews_2021-10_2022-07.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter=";"))[:n]
    for row in rows:
        stamp = datetime.strptime(row["date"], "%d-%m-%Y %H:%M").replace(tzinfo=UTC)
        row["ts_ms"] = str(int(stamp.timestamp() * 1000))
    return rows


def read_eth_tweets(shared: Path, n: int) -> list[dict[str, str]]:
    """The last ``n`` tweets of the Ethereum tweets file, with ``ts_ms`` added."""
    path = shared / "news" / "ethereum_tweets_2014-2022.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))[-n:]
    for row in rows:
        row["ts_ms"] = str(int(datetime.fromisoformat(row["Date"]).timestamp() * 1000))
    return rows


def rss_feed(articles: list[dict[str, str]]) -> bytes:
    """An RSS 2.0 document with one item per article (HTML-escaped summary, RFC 822 dates)."""
    items = []
    for a in articles:
        when = format_datetime(datetime.fromtimestamp(int(a["ts_ms"]) / 1000, tz=UTC))
        items.append(
            f"<item><title>{escape(a['title'])}</title><link>{escape(a['url'])}</link>"
            f"<guid isPermaLink=\"true\">{escape(a['url'])}</guid><pubDate>{when}</pubDate>"
            f"<dc:creator>{escape(a['source'])}</dc:creator>"
            f"<description>{escape('<p>' + a['text'] + '</p>')}</description></item>")
    return ("<?xml version=\"1.0\" encoding=\"UTF-8\"?><rss version=\"2.0\" "
            "xmlns:dc=\"http://purl.org/dc/elements/1.1/\"><channel><title>Crypto News</title>"
            "<link>https://cryptonews.com</link><description>news</description>"
            + "".join(items) + "</channel></rss>").encode()


def cryptopanic_posts(articles: list[dict[str, str]], *, next_url: str | None, first_id: int = 1_000_000) -> bytes:
    """A ``/api/v1/posts/`` page (post ids count up from ``first_id``)."""
    results = [{
        "kind": "news", "domain": a["url"].split("/")[2], "title": a["title"],
        "published_at": datetime.fromtimestamp(int(a["ts_ms"]) / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "slug": a["url"].rstrip("/").split("/")[-1], "id": first_id + i, "url": a["url"],
        "created_at": datetime.fromtimestamp(int(a["ts_ms"]) / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "source": {"title": a["source"], "region": "en", "domain": a["url"].split("/")[2], "path": None},
        "votes": {"negative": i % 3, "positive": i % 5, "important": 1, "liked": 0, "disliked": 0, "lol": 0,
                  "toxic": 0, "saved": 0, "comments": 0},
    } for i, a in enumerate(articles)]
    return json.dumps({"count": len(results), "next": next_url, "previous": None, "results": results}).encode()


def reddit_listing(tweets: list[dict[str, str]], subreddit: str) -> bytes:
    """A ``/r/{sub}/new`` Listing (newest first) built from real tweets."""
    children = [{"kind": "t3", "data": {
        "id": f"p{int(t['']):05d}", "name": f"t3_p{int(t['']):05d}", "subreddit": subreddit, "title": t["Tweet"],
        "selftext": "", "author": t["User"], "created_utc": int(t["ts_ms"]) / 1000, "score": int(t[""]) % 50,
        "num_comments": int(t[""]) % 7, "permalink": f"/r/{subreddit}/comments/p{int(t['']):05d}/post/",
        "url": "https://www.reddit.com", "over_18": False,
    }} for t in sorted(tweets, key=lambda t: -int(t["ts_ms"]))]
    after = children[-1]["data"]["name"] if children else None
    return json.dumps({"kind": "Listing", "data": {"after": after, "dist": len(children), "before": None,
                                                   "children": children}}).encode()


def x_search(tweets: list[dict[str, str]]) -> bytes:
    """A ``/2/tweets/search/recent`` page built from real tweets (ids increase with time)."""
    ordered = sorted(tweets, key=lambda t: -int(t["ts_ms"]))
    data = [{"id": str(1_500_000_000_000_000_000 + int(t[""])), "text": t["Tweet"], "author_id": t["User"],
             "created_at": datetime.fromtimestamp(int(t["ts_ms"]) / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
             "lang": "en", "edit_history_tweet_ids": [str(1_500_000_000_000_000_000 + int(t[""]))],
             "public_metrics": {"retweet_count": 1, "reply_count": 0, "like_count": int(t[""]) % 9, "quote_count": 0,
                                "bookmark_count": 0, "impression_count": 100}} for t in ordered]
    if not data:
        return json.dumps({"meta": {"result_count": 0}}).encode()
    return json.dumps({"data": data, "meta": {"newest_id": data[0]["id"], "oldest_id": data[-1]["id"],
                                              "result_count": len(data)}}).encode()
