#!/usr/bin/env python3
"""N open consoles: N WebSocket connections to tollgate's /ws, each
subscribed to the live sessions as the page on its live calls tab is
(it follows new call records only while their tab is shown; --cdrs
subscribes to those too), reading every notification, until SIGTERM;
then one line of totals (notifications and bytes read, subscriptions
closed by the server for being too slow, connections lost).

    consoles.py <http port> <N> [--cdrs]

Run by prepaid_load.py --consoles N (in its own virtualenv with the
`websockets` package).
"""
import asyncio, json, signal, sys

import websockets

RESUBSCRIBE = {"tollgate_sessions": "tollgate_subscribeSessions", "tollgate_cdrs": "tollgate_subscribeCdrs"}


async def console(port, stats, stop, cdrs):
    try:
        async with websockets.connect(f"ws://127.0.0.1:{port}/ws", max_size=None, ping_interval=None) as ws:
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tollgate_subscribeSessions"}))
            if cdrs:
                await ws.send(json.dumps({"jsonrpc": "2.0", "id": 2, "method": "tollgate_subscribeCdrs"}))
            while not stop.is_set():
                try:
                    msg = await asyncio.wait_for(ws.recv(), 0.5)
                except asyncio.TimeoutError:
                    continue
                # Only the envelope is looked at (a browser parses the rest;
                # parsing every batch here would only measure Python).
                stats["bytes"] += len(msg)
                head = msg[:200]
                if '"error"' in head:
                    stats["closed_slow"] += 1
                    method = "tollgate_sessions" if "tollgate_sessions" in head else "tollgate_cdrs"
                    # Subscribe again, as the page does.
                    await ws.send(json.dumps({"jsonrpc": "2.0", "id": 3, "method": RESUBSCRIBE[method]}))
                elif '"method"' in head:
                    stats["notifications"] += 1
    except Exception as e:  # noqa: BLE001 (a load tool: count and go on)
        stats["lost"] += 1
        stats["last_error"] = repr(e)


async def main():
    port, n = int(sys.argv[1]), int(sys.argv[2])
    cdrs = "--cdrs" in sys.argv[3:]
    stats = {"notifications": 0, "bytes": 0, "closed_slow": 0, "lost": 0, "last_error": None}
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await asyncio.gather(*(console(port, stats, stop, cdrs) for _ in range(n)))
    print(json.dumps(stats), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
