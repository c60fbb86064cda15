"""The Lighter venue adapter, on the real lighter-sdk: `client.LighterVenue` places and queries
orders and reads the account and market data; `stream.MarketStream` follows books, trades and
the account over WebSocket, reconnecting and refilling gaps.

The parts: `errors` (what can go wrong, by meaning), `retry` (the backoff policy), `calls`
(reads with retries), `nonces` and `sender` (each transaction sent once), `markets` (symbol or id
to market), `records`, `events` and `convert` (our results, from the SDK's models), `book` (a
local order book on the venue's nonce chain), `frames` (stream frames read into events),
`paging` (windows read a page at a time). Units: `rulebot.venues.units`.
"""
