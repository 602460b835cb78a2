#!/usr/bin/env python3
"""Streams trades and order books from bitunix-marketdata, the way a trading client should.

    python3 examples/python/watch_market.py --md 127.0.0.1:50051 BTCUSDT ETHUSDT
    python3 examples/python/watch_market.py --count 100 BTCUSDT      # stop after 100 data events

What it shows (see proto/bitunix/marketdata/v1/marketdata.proto and docs/MARKETDATA.md):
  * `seq` is checked on every event: 1 for the first event of a stream, +1 for every event.
  * Status events (RECONNECTING, STALE, DEGRADED, RECOVERED, ...) arrive in-band: they say whether
    the data of a symbol is live, and are printed as they come.
  * A Gap event means this stream missed data: the local book of the affected symbols is thrown
    away and the next book (a snapshot) replaces it. Trades inside a gap are lost for good.
  * When the stream ends (server restart: UNAVAILABLE; shutdown; too slow), it subscribes again with
    exponential backoff. A new stream starts over: seq from 1, fresh snapshots.

Output is one line per event. Exit status: 0 after --count data events or Ctrl-C, 2 for a request
the server refuses (bad symbol, ...).
"""
import argparse
import random
import signal
import sys
import time

import grpc

try:
    from bitunix.common.v1 import common_pb2
    from bitunix.marketdata.v1 import marketdata_pb2 as md
    from bitunix.marketdata.v1 import marketdata_pb2_grpc as md_grpc
except ImportError as e:
    sys.exit(f"watch_market.py: the Python gRPC stubs are not importable ({e}).\n"
             "Generate them from the repository's proto/ directory and put them on PYTHONPATH:\n"
             "  python3 -m grpc_tools.protoc -I proto --python_out=gen --grpc_python_out=gen \\\n"
             "      bitunix/common/v1/common.proto bitunix/marketdata/v1/marketdata.proto \\\n"
             "      bitunix/orders/v1/orders.proto google/rpc/status.proto\n"
             "  PYTHONPATH=gen python3 examples/python/watch_market.py BTCUSDT\n"
             "(see examples/README.md)")

State = common_pb2.StreamStatus.State
Reason = common_pb2.Gap.Reason

# Codes that retrying cannot fix: the request itself is wrong.
FATAL = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.UNAUTHENTICATED,
         grpc.StatusCode.PERMISSION_DENIED}
BACKOFF_INITIAL, BACKOFF_MAX = 0.25, 10.0


class Watcher:
    def __init__(self, symbols, depth, count):
        self.symbols = symbols
        self.depth = depth
        self.count = count        # stop after this many data events (0 = never)
        self.data_events = 0
        self.books = {}           # symbol -> (bids, asks): the local book
        self.reset_books = set()  # symbols whose book was dropped at a gap, until the next book
        self.not_live = {}        # symbol -> state name while its feed is not live

    def new_stream(self):
        # A new stream replays everything stateful as snapshots: nothing local survives.
        self.books.clear()
        self.reset_books.clear()
        self.not_live.clear()

    def handle(self, ev):
        """Handles one event; returns True once --count data events were seen."""
        kind = ev.WhichOneof("payload")
        if kind == "trade":
            t = ev.trade
            side = common_pb2.Side.Name(t.side).removeprefix("SIDE_")
            print(f"seq={ev.seq} {ev.symbol} trade {t.qty} @ {t.price} {side}")
        elif kind == "order_book":
            b = ev.order_book
            # Every book event is a complete top-N book: it replaces the local one (no deltas).
            self.books[ev.symbol] = (list(b.bids), list(b.asks))
            note = " snapshot" if ev.snapshot else ""
            if ev.symbol in self.reset_books:
                self.reset_books.discard(ev.symbol)
                note += " (replaces the book dropped at the gap)"
            bid = f"{b.bids[0].qty}@{b.bids[0].price}" if b.bids else "-"
            ask = f"{b.asks[0].qty}@{b.asks[0].price}" if b.asks else "-"
            print(f"seq={ev.seq} {ev.symbol} book bid {bid} ask {ask} levels={len(b.bids)}/{len(b.asks)}{note}")
        elif kind == "status":
            self.on_status(ev.seq, ev.status)
            return False
        elif kind == "gap":
            self.on_gap(ev.seq, ev.gap)
            return False
        else:
            return False
        self.data_events += 1
        return self.count and self.data_events >= self.count

    def on_status(self, seq, st):
        affected = list(st.symbols) or self.symbols  # empty = every symbol of the stream
        name = State.Name(st.state)
        for s in affected:
            if st.state in (State.STATE_LIVE, State.STATE_RECOVERED):
                self.not_live.pop(s, None)
            else:
                # RECONNECTING / STALE: data may be missing or old; DEGRADED: books come from REST
                # polls, trades pause. Do not trade on these symbols' data until RECOVERED.
                self.not_live[s] = name
        topics = f" topics={','.join(st.topics)}" if st.topics else ""
        print(f"seq={seq} status {name} symbols={','.join(affected)}{topics} reason={st.reason!r}")

    def on_gap(self, seq, gap):
        affected = list(gap.symbols) or self.symbols
        # With topics, only the listed channels missed data (e.g. only trade:BTCUSDT); else all.
        book_symbols = affected
        if gap.topics:
            book_symbols = [t.split(":", 1)[1] for t in gap.topics if t.startswith("depth_book")]
        for s in book_symbols:
            # Book pushes were missed, so the local book is wrong now. Drop it; the gateway re-sends
            # the book as a snapshot after a gap, and that snapshot becomes the new local book.
            self.books.pop(s, None)
            self.reset_books.add(s)
        missed = gap.missed_events or "unknown"
        print(f"seq={seq} gap {Reason.Name(gap.reason)} missed={missed} symbols={','.join(affected)} "
              f"book reset: {','.join(book_symbols) or 'none'} (waiting for the next snapshot); "
              "trades in the gap are lost")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--md", default="127.0.0.1:50051", help="market-data service address (HOST:PORT)")
    p.add_argument("--count", type=int, default=0, help="stop after N trade/book events (0 = run until Ctrl-C)")
    p.add_argument("--depth", type=int, default=5, choices=(1, 5, 15), help="order book depth")
    p.add_argument("symbols", nargs="+", help="symbols, e.g. BTCUSDT ETHUSDT")
    args = p.parse_args()
    symbols = [s.upper() for s in args.symbols]
    sys.stdout.reconfigure(line_buffering=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    watcher = Watcher(symbols, args.depth, args.count)
    request = md.SubscribeRequest(symbols=symbols, channels=[md.CHANNEL_TRADE, md.CHANNEL_ORDER_BOOK],
                                  book_depth=args.depth)
    channel = grpc.insecure_channel(args.md)  # reconnects by itself; one channel for every attempt
    stub = md_grpc.MarketDataServiceStub(channel)
    backoff, attempt, call = BACKOFF_INITIAL, 0, None
    try:
        while True:
            attempt += 1
            watcher.new_stream()
            expected = 1
            call = stub.Subscribe(request)  # no deadline: a stream lives as long as it is read
            print(f"subscribing to {','.join(symbols)} on {args.md} (attempt {attempt})")
            try:
                for batch in call:
                    for ev in batch.events:
                        if ev.seq != expected:
                            # Never happens with a correct server; if it does, this stream cannot be
                            # trusted: start a new one (which re-sends snapshots).
                            raise SeqError(f"seq {ev.seq}, expected {expected}")
                        expected += 1
                        if watcher.handle(ev):
                            call.cancel()
                            print(f"done: {watcher.data_events} data events, seq continuous")
                            return 0
                    backoff = BACKOFF_INITIAL  # data flows: the next failure starts small again
                why = "the server ended the stream"
            except SeqError as e:
                call.cancel()
                why = f"sequence error: {e}"
            except grpc.RpcError as e:
                if e.code() in FATAL:
                    print(f"refused: {e.code().name}: {e.details()}", file=sys.stderr)
                    return 2
                why = f"stream ended: {e.code().name}: {e.details()}"
            # Jitter (half to all of the backoff), so that many clients do not come back at once.
            delay = random.uniform(backoff / 2, backoff)
            print(f"{why}; resubscribing in {delay:.2f}s")
            time.sleep(delay)
            backoff = min(backoff * 2, BACKOFF_MAX)
    except KeyboardInterrupt:
        if call is not None:
            call.cancel()
        print(f"interrupted: {watcher.data_events} data events")
        return 0
    finally:
        channel.close()


class SeqError(Exception):
    pass


if __name__ == "__main__":
    sys.exit(main())
