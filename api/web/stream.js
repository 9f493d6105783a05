// Stadtpuls live map: the push stream reader (loaded before map.js, which uses Stream).
"use strict";

// GET /v1/stream read with fetch rather than EventSource, which cannot send the
// Authorization header of a key. Like EventSource it reconnects after an error or the
// server's end, resuming with Last-Event-ID.
class Stream {
  // `headers()` gives each request's headers (the key may change); `handlers` has `open`,
  // `error` and one function per event name, called with the parsed JSON data and the id.
  constructor(url, headers, handlers) {
    this.url = url;
    this.headers = headers;
    this.handlers = handlers;
    this.lastId = null;
    this.closed = false;
    this.abort = new AbortController();
    this.run();
  }

  close() {
    this.closed = true;
    this.abort.abort();
  }

  async run() {
    while (!this.closed) {
      try {
        const headers = this.headers({ Accept: "text/event-stream" });
        if (this.lastId) headers["Last-Event-ID"] = this.lastId;
        const response = await fetch(this.url, { headers, signal: this.abort.signal });
        if (!response.ok) throw new Error(`${this.url}: HTTP ${response.status}`);
        this.handlers.open();
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let end;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            this.dispatch(buffer.slice(0, end));
            buffer = buffer.slice(end + 2);
          }
        }
      } catch (e) {
        if (this.closed) return;
        console.warn(e);
      }
      if (this.closed) return;
      this.handlers.error();
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  }

  // One event block: `id:`, `event:` and `data:` lines; comment lines (heartbeats) skipped.
  dispatch(block) {
    let event = "message";
    let id = null;
    const data = [];
    for (const line of block.split("\n")) {
      if (line === "" || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") event = value;
      else if (field === "data") data.push(value);
      else if (field === "id") id = value;
    }
    if (id !== null) this.lastId = id;
    const handler = this.handlers[event];
    if (handler && data.length) handler(JSON.parse(data.join("\n")), id);
  }
}
