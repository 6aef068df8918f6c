// The WebSocket client that implements docs/protocol.md: commands and replies, rooms with epoch/seq, gap-free
// rejoin, reconnect with backoff and full jitter, queued asks and chat messages. No DOM, no translations.

/** Error carrying a protocol error code; `retryAfterMs` is set for rate_limited. */
export class MajlisError extends Error {
  constructor(code, message, retryAfterMs) {
    super(message || code);
    this.code = code;
    this.retryAfterMs = retryAfterMs ?? null;
  }
}


export function wsUrl() {
  return `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/ws`;
}

const BACKOFF_BASE_MS = 500;
const BACKOFF_CAP_MS = 30_000;
const STABLE_AFTER_MS = 10_000;
const HEARTBEAT_EVERY_MS = 25_000;
const HEARTBEAT_TIMEOUT_MS = 10_000;
const INTERNAL_TIMEOUT_MS = 15_000;
const COMMAND_TIMEOUT_MS = 20_000;
/** Commands that carry a client_msg_id: kept across drops and re-sent with it (the server never duplicates). */
const QUEUED_TYPES = new Set(['ask', 'chat_send', 'chat_note', 'chat_start']);

/**
 * Majlis WebSocket client.
 *
 * - `send(type, fields)` returns a promise resolved with the ack `result` or rejected with a MajlisError.
 *   While not connected, `ask`, `chat_send`, `chat_note` and `chat_start` are queued (and re-sent after a
 *   reconnect with the same client_msg_id); every other command is rejected with code `disconnected` so the
 *   UI never acts on stale intent.
 * - `join(room)` keeps the room joined across reconnects, rejoining with `since: {epoch, seq}`.
 * - Events: on('status'|'snapshot'|'event'|'presence'|'typing'|'joined'|'join_error'|'auth'|'auth_failed'|
 *   'shutdown'|'protocol_error', fn).
 *
 * `getToken(force)` returns a token; with force=true it must get a fresh one (or throw if it cannot).
 */
export class MajlisClient {
  constructor({ getToken, url = wsUrl() }) {
    this.url = url;
    this.getToken = getToken;
    this.ws = null;
    this.nextId = 1;
    this.pending = new Map(); // String(id) → entry awaiting ack/error on the current socket
    this.queue = []; // asks waiting for a connection
    this.rooms = new Map(); // room → sync state
    this.listeners = new Map();
    this.state = 'idle';
    this.ready = false; // authenticated and rooms rejoined
    this.user = null;
    this.attempt = 0;
    this.everConnected = false;
    this.stopped = false;
    this.shutdownDelayMs = 0;
    this.notBefore = 0; // no reconnect before this time (server_shutdown asked us to wait)
    this.connGen = 0; // which connection a room was last joined on
    this.timers = { reconnect: 0, stable: 0, heartbeat: 0 };
    this.lastClose = null;
    window.addEventListener('online', () => this._reconnectSoon());
  }

  on(name, fn) {
    if (!this.listeners.has(name)) this.listeners.set(name, []);
    this.listeners.get(name).push(fn);
    return this;
  }

  _emit(name, payload) {
    for (const fn of this.listeners.get(name) || []) {
      try { fn(payload); } catch (e) { console.error(`majlis: ${name} handler failed`, e); }
    }
  }

  _setState(state) {
    if (this.state === state) return;
    this.state = state;
    this._emit('status', state);
  }

  connect() {
    if (this.stopped || this.ws) return;
    clearTimeout(this.timers.reconnect);
    this._setState(this.everConnected ? 'reconnecting' : 'connecting');
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch {
      this._scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onopen = () => { if (ws === this.ws) this._onOpen(ws); };
    ws.onmessage = (ev) => { if (ws === this.ws) this._onMessage(ev.data); };
    ws.onclose = (ev) => this._drop(ws, ev.code, ev.reason);
    ws.onerror = () => { /* a close event always follows; handled there */ };
  }

  /** Stop for good (page unload, sign-out). */
  close() {
    this.stopped = true;
    clearTimeout(this.timers.reconnect);
    const ws = this.ws;
    if (ws) { ws.close(1000, 'bye'); this._drop(ws, 1000, 'bye'); }
    this._setState('closed');
  }

  /** Identity changed (new session): forget room positions so rejoins get fresh snapshots; reconnect now. */
  restart() {
    for (const r of this.rooms.values()) Object.assign(r, { epoch: null, seq: null, needSnapshot: true });
    this.attempt = 0;
    const ws = this.ws;
    if (ws) { ws.close(1000, 'bye'); this._drop(ws, 1000, 'restart'); } else this._reconnectSoon();
  }

  async _onOpen(ws) {
    this.connGen += 1;
    this.timers.stable = setTimeout(() => { this.attempt = 0; }, STABLE_AFTER_MS);
    try {
      const prevSub = this.user?.sub;
      this.user = await this._authenticate();
      if (ws !== this.ws) return;
      // A new identity must not resume the old identity's rooms: its `mine`/`my_votes` differ.
      if (prevSub && prevSub !== this.user.sub) {
        for (const r of this.rooms.values()) Object.assign(r, { epoch: null, seq: null, needSnapshot: true });
      }
      this._emit('auth', this.user);
      // Loop: a page may call join() while earlier joins are still in flight on this connection.
      for (;;) {
        const todo = [...this.rooms.entries()].filter(([, r]) => r.gen !== this.connGen).map(([room]) => room);
        if (!todo.length) break;
        await Promise.all(todo.map((room) => this._joinRoom(room)));
        if (ws !== this.ws) return;
      }
      this.everConnected = true;
      this.ready = true;
      this._setState('open');
      this._flushQueue();
      this._startHeartbeat(ws);
    } catch (err) {
      if (ws !== this.ws) return;
      if (err?.code === 'unauthorized' || err?.code === 'auth_failed') {
        this._emit('auth_failed', err);
        this.close();
        return;
      }
      ws.close(4000, 'setup failed');
      this._drop(ws, 4000, 'setup failed');
    }
  }

  async _authenticate() {
    let token = await this.getToken(false);
    try {
      return (await this._raw('auth', { token })).user;
    } catch (err) {
      if (err.code !== 'unauthorized') throw err;
    }
    // The stored token expired or the server forgot its key (restart): get a new one once.
    try {
      token = await this.getToken(true);
    } catch {
      throw new MajlisError('auth_failed', 'no fresh token');
    }
    return (await this._raw('auth', { token })).user;
  }

  /**
   * Join (and keep joined) a room. Resolves with the join ack, or rejects if the join fails now.
   * `observer: true` for a screen showing the room rather than a person (not counted as a participant).
   */
  join(room, { observer = false } = {}) {
    if (!this.rooms.has(room)) {
      this.rooms.set(room, { epoch: null, seq: null, needSnapshot: true, joining: false, gapWhileJoining: false,
        snapshotWhileJoining: false, resyncing: false, observer });
    }
    if (this.ready) return this._joinRoom(room);
    if (!this.ws) this.connect();
    return Promise.resolve(null); // joined as part of the connection setup
  }

  leave(room) {
    this.rooms.delete(room);
    if (this.ready) return this._raw('leave', { room }).catch(() => null);
    return Promise.resolve(null);
  }

  async _joinRoom(room) {
    const r = this.rooms.get(room);
    if (!r) return null;
    const fields = { room };
    if (r.observer) fields.observer = true;
    if (r.epoch !== null && r.seq !== null && !r.needSnapshot) fields.since = { epoch: r.epoch, seq: r.seq };
    else r.needSnapshot = true;
    Object.assign(r, { gen: this.connGen, joining: true, gapWhileJoining: false, snapshotWhileJoining: false });
    try {
      const ack = await this._raw('join', fields);
      r.joining = false;
      if (ack.recovered) {
        // Missed events were replayed before/around the ack; if one was skipped, resynchronise.
        if (r.gapWhileJoining) this._resync(room);
      } else if (!r.snapshotWhileJoining) {
        r.needSnapshot = true; // the snapshot follows the ack; drop stray events until it arrives
      }
      this._emit('joined', { room, recovered: !!ack.recovered });
      return ack;
    } catch (err) {
      r.joining = false;
      if (err.code === 'disconnected' || err.code === 'timeout') throw err; // connection setup retries
      this._emit('join_error', { room, error: err });
      return null;
    }
  }

  /** Seq gap: the stream is no longer trustworthy, so drop the position and ask for a fresh snapshot. */
  async _resync(room) {
    const r = this.rooms.get(room);
    if (!r || r.resyncing || !this.ready) return;
    r.resyncing = true;
    Object.assign(r, { epoch: null, seq: null, needSnapshot: true });
    try {
      await this._raw('leave', { room }).catch(() => null);
      await this._joinRoom(room);
    } catch { /* the connection dropped; reconnect rejoins */ } finally {
      r.resyncing = false;
    }
  }

  /** Send a user command (see class comment for offline behaviour). */
  send(type, fields = {}) {
    return new Promise((resolve, reject) => {
      const entry = { type, fields, resolve, reject, queued: QUEUED_TYPES.has(type) };
      if (this.ready) this._transmit(entry, COMMAND_TIMEOUT_MS);
      else if (entry.queued) this.queue.push(entry);
      else reject(new MajlisError('disconnected', 'not connected'));
    });
  }

  /** Resolves once connected and authenticated (at once if already), or rejects `disconnected` after `timeoutMs`. */
  whenReady(timeoutMs = 10_000) {
    if (this.ready) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onStatus = (s) => {
        if (s !== 'open') return;
        clearTimeout(timer);
        this.listeners.set('status', (this.listeners.get('status') || []).filter((fn) => fn !== onStatus));
        resolve();
      };
      const timer = setTimeout(() => {
        this.listeners.set('status', (this.listeners.get('status') || []).filter((fn) => fn !== onStatus));
        reject(new MajlisError('disconnected', 'not connected'));
      }, timeoutMs);
      this.on('status', onStatus);
    });
  }

  /** Commands currently waiting for a connection or an ack (asks only survive a drop). */
  get unackedAsks() {
    return [...this.queue, ...[...this.pending.values()].filter((e) => e.queued)].map((e) => e.fields);
  }

  _raw(type, fields, timeoutMs = INTERNAL_TIMEOUT_MS) {
    return new Promise((resolve, reject) => {
      this._transmit({ type, fields, resolve, reject, internal: true }, timeoutMs);
    });
  }

  _transmit(entry, timeoutMs) {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      if (entry.queued) this.queue.push(entry);
      else entry.reject(new MajlisError('disconnected', 'not connected'));
      return;
    }
    const id = this.nextId++;
    entry.id = String(id);
    this.pending.set(entry.id, entry);
    // Asks have no timeout: they stay pending until acked or re-sent after a reconnect.
    if (!entry.queued) {
      entry.timer = setTimeout(() => {
        if (this.pending.get(entry.id) !== entry) return;
        this.pending.delete(entry.id);
        entry.reject(new MajlisError('timeout', 'no reply'));
      }, timeoutMs);
    }
    ws.send(JSON.stringify({ type: entry.type, id, ...entry.fields }));
  }

  _flushQueue() {
    const queued = this.queue;
    this.queue = [];
    for (const entry of queued) this._transmit(entry, COMMAND_TIMEOUT_MS);
  }

  _onMessage(data) {
    let f;
    try { f = JSON.parse(data); } catch { return; }
    switch (f.type) {
      case 'ack': return this._settle(f, null);
      case 'error': return this._settle(f, new MajlisError(f.code, f.message, f.retry_after_ms));
      case 'snapshot': return this._onSnapshot(f);
      case 'event': return this._onEvent(f);
      case 'presence': return this._emit('presence', f);
      case 'typing': return this._emit('typing', f);
      case 'server_shutdown':
        // The close (1012) follows; wait at least this long before reconnecting.
        this.shutdownDelayMs = Number(f.reconnect_after_ms) || 0;
        return this._emit('shutdown', f);
      default: return undefined;
    }
  }

  _settle(f, err) {
    if (f.id === null || f.id === undefined) {
      this._emit('protocol_error', err);
      return;
    }
    const entry = this.pending.get(String(f.id));
    if (!entry) return;
    this.pending.delete(String(f.id));
    clearTimeout(entry.timer);
    if (err) {
      entry.reject(err);
      // An expired token mid-connection: reconnecting re-authenticates (and refreshes the token).
      if (err.code === 'unauthorized' && !entry.internal && this.ws) {
        const ws = this.ws;
        ws.close(4000, 'reauth');
        this._drop(ws, 4000, 'reauth');
      }
    } else {
      entry.resolve(f.result ?? {});
    }
  }

  _onSnapshot(f) {
    const r = this.rooms.get(f.room);
    if (!r) return;
    Object.assign(r, { epoch: f.epoch, seq: f.seq, needSnapshot: false, snapshotWhileJoining: true });
    this._emit('snapshot', f);
  }

  _onEvent(f) {
    const r = this.rooms.get(f.room);
    if (!r || r.needSnapshot) return;
    if (f.seq <= r.seq) return; // already applied (replay overlap)
    if (f.seq !== r.seq + 1) {
      if (r.joining) r.gapWhileJoining = true; // decided when the join ack arrives
      else this._resync(f.room);
      return;
    }
    r.seq = f.seq;
    this._emit('event', f);
  }

  _startHeartbeat(ws) {
    // Browsers answer server pings, but a half-open TCP connection is only noticed by sending something.
    clearInterval(this.timers.heartbeat);
    this.timers.heartbeat = setInterval(() => {
      if (ws !== this.ws || !this.ready) return;
      this._raw('ping', {}, HEARTBEAT_TIMEOUT_MS).catch((err) => {
        if (err.code === 'timeout' && ws === this.ws) { ws.close(4000, 'heartbeat'); this._drop(ws, 4000, 'heartbeat'); }
      });
    }, HEARTBEAT_EVERY_MS);
  }

  /** The socket is gone (closed by either side, or given up on): clean up and schedule a reconnect. */
  _drop(ws, code, reason) {
    if (ws !== this.ws) return;
    this.ws = null;
    this.ready = false;
    this.lastClose = { code, reason };
    clearTimeout(this.timers.stable);
    clearInterval(this.timers.heartbeat);
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const entry of pending) {
      clearTimeout(entry.timer);
      if (entry.queued) this.queue.push(entry); // re-sent with the same client_msg_id after reconnect
      else entry.reject(new MajlisError('disconnected', 'connection lost'));
    }
    this._emit('close', { code, reason });
    if (this.stopped) { this._setState('closed'); return; }
    this._setState(this.everConnected ? 'reconnecting' : 'connecting');
    this._scheduleReconnect();
  }

  _scheduleReconnect() {
    clearTimeout(this.timers.reconnect);
    // Full jitter: random(0, min(cap, base·2^n)) spreads a crowd of clients after a server restart.
    const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** this.attempt);
    let delay = Math.random() * ceiling;
    if (this.shutdownDelayMs) {
      delay += this.shutdownDelayMs;
      this.notBefore = Date.now() + this.shutdownDelayMs;
      this.shutdownDelayMs = 0;
    }
    this.attempt += 1;
    this.nextReconnectDelayMs = delay;
    this.timers.reconnect = setTimeout(() => this.connect(), delay);
  }

  _reconnectSoon() {
    // The browser says the network is back: skip the remaining backoff, but never a server_shutdown wait.
    if (this.stopped || this.ws || Date.now() < this.notBefore) return;
    clearTimeout(this.timers.reconnect);
    this.connect();
  }
}
