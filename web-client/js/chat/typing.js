// Typing indicators (docs/protocol.md §10.4.2): typing travels as unsequenced frames. A sender says `true` at
// most every 3 s while the person types and `false` when they stop or send; a reader drops an indicator not
// refreshed for 6 s. Shared by the citizen's chat and the agent console.

const REFRESH_MS = 3000;
const IDLE_MS = 4000;
const EXPIRE_MS = 6000;

/** Call `input()` on every keystroke and `stop()` on send or blur; `send(bool)` issues chat_typing. */
export function typingSender(send) {
  let lastTrue = 0;
  let idle = 0;
  let on = false;
  const stop = () => {
    clearTimeout(idle);
    if (!on) return;
    on = false;
    lastTrue = 0;
    send(false);
  };
  return {
    input() {
      const now = Date.now();
      if (now - lastTrue >= REFRESH_MS) { lastTrue = now; on = true; send(true); }
      clearTimeout(idle);
      idle = setTimeout(stop, IDLE_MS);
    },
    stop,
  };
}

/** Who is typing, per key (e.g. side), each expiring on its own; `onChange(set)` hears every change. */
export function typingWatch(onChange) {
  const timers = new Map();
  const changed = () => onChange(new Set(timers.keys()));
  return {
    set(key, typing) {
      clearTimeout(timers.get(key));
      if (typing) timers.set(key, setTimeout(() => { timers.delete(key); changed(); }, EXPIRE_MS));
      else timers.delete(key);
      changed();
    },
    clear() { for (const t of timers.values()) clearTimeout(t); timers.clear(); changed(); },
  };
}
