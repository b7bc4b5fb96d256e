"""The baseline of the streaming benchmark: a bare httpx loop reading the same Ollama stream.

Run as ``python bench/bare_stream.py URL TOKENS``: posts one ``/api/chat`` request with
``num_predict`` TOKENS, decodes every NDJSON line, joins the text, and prints the in-process
seconds (wall, and CPU of the reading thread) and the number of content pieces. No config, no
prompt building, no parsing of files.
"""

from __future__ import annotations

import json
import sys
import time


def main(url: str, tokens: int) -> int:
    import httpx

    body = {
        "model": "bench-stream",
        "messages": [{"role": "user", "content": "bench"}],
        "stream": True,
        "options": {"num_predict": tokens},
    }
    started = time.perf_counter()
    cpu_started = time.thread_time()
    pieces: list[str] = []
    with (
        httpx.Client(timeout=60.0) as client,
        client.stream("POST", f"{url}/api/chat", json=body) as response,
    ):
        response.raise_for_status()
        for line in response.iter_lines():
            if not line:
                continue
            data = json.loads(line)
            content = data.get("message", {}).get("content")
            if content:
                pieces.append(content)
            if data.get("done"):
                break
    text = "".join(pieces)
    print(
        json.dumps(
            {
                "seconds": time.perf_counter() - started,
                "cpu_seconds": time.thread_time() - cpu_started,
                "pieces": len(pieces),
                "characters": len(text),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2])))
