// tcpchat's web client: the JSON-lines protocol (docs/protocol.md) over one WebSocket.
//
// Each frame from the server is one JSON event; each frame sent is one input line,
// exactly what `nc` would type. Remote text only ever reaches the page through
// textContent (never innerHTML), and a link is made only for an http(s) source.
"use strict";

// -- what does not depend on the page -------------------------------------------------------

// The nick colour rule of the terminal client (tcpchat/tui/display.py, nick_colour):
// CRC-32 of the UTF-8 of the nickname's key, modulo the twelve colours.
const NICK_COLOURS = 12;

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(bytes) {
  let crc = 0xffffffff;
  for (const byte of bytes) crc = CRC_TABLE[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

// The server's nick_key: NFKC, casefold, NFKC. JavaScript has no casefold: upper
// then lower case folds as it does (ß → ss), but for the final sigma, which lower
// case brings back and casefold never keeps.
function nickKey(nick) {
  const folded = nick.normalize("NFKC").toUpperCase().toLowerCase().replaceAll("ς", "σ");
  return folded.normalize("NFKC");
}

// How many are in the room a welcome or a user list is about: its "members" in a big room
// (past the server's --quiet-joins-above), where the list is not everyone; 0 otherwise.
function countOf(event) {
  return Number.isInteger(event.members) && event.members > 0 ? event.members : 0;
}

function nickColour(nick) {
  return crc32(new TextEncoder().encode(nickKey(nick))) % NICK_COLOURS;
}

// A link only for http and https: anything else (javascript:, data:) stays text.
function safeUrl(text) {
  try {
    const url = new URL(text);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

function utf8Length(text) {
  return new TextEncoder().encode(text).length;
}

// Reconnect after 1, 2, 4 … 30 seconds, with a little jitter so that a restarted
// server is not met by every browser at once.
function backoff(attempt) {
  const base = Math.min(30, 2 ** attempt);
  return base * (0.8 + Math.random() * 0.4);
}

// -- the page ------------------------------------------------------------------------------------

const $ = (id) => document.getElementById(id);

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// The words of the server's text rendering (tcpchat/core/render.py), for the events the
// page draws as they are: a span of time in its two largest units, a moment of history.
function duration(seconds) {
  const secs = Math.max(Math.trunc(seconds) || 0, 0);
  const [days, hours, minutes] = [Math.floor(secs / 86400), Math.floor(secs / 3600), Math.floor(secs / 60)];
  if (days) return `${days}d ${hours % 24}h`;
  if (hours) return `${hours}h ${minutes % 60}m`;
  if (minutes) return `${minutes}m ${secs % 60}s`;
  return `${secs}s`;
}

function moment(ts) {
  const date = new Date(ts);
  if (Number.isNaN(date.getTime())) return "";
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

function oneLine(text) {
  return String(text ?? "").split("\n").join(" ");
}

function modeLine(event) {
  const { nick, target, room } = event;
  const because = event.reason ? ` (${event.reason})` : "";
  const lasting = event.seconds ? `for ${duration(event.seconds)}` : "for good";
  const where = room || "the server";
  switch (event.change) {
    case "op":
      return nick ? `${nick} made ${target} an operator of ${room}` : `${target} is an operator of ${room}`;
    case "deop":
      return nick ? `${nick} removed ${target} as an operator of ${room}` : `${target} is not an operator of ${room}`;
    case "mute":
      return `${nick} muted ${target} in ${room} ${lasting}${because}`;
    case "unmute":
      return `${nick} unmuted ${target} in ${room}`;
    case "slow":
      return event.seconds
        ? `${nick} set slow mode in ${room}: one line per ${duration(event.seconds)}`
        : `${nick} turned slow mode off in ${room}`;
    case "ban":
      return `${nick} banned ${target} from ${where} ${lasting}${because}`;
    case "unban":
      return `${nick} lifted the ban on ${target} from ${where}`;
    default:
      return `${nick} changed ${event.change} ${target} in ${room}`.trim();
  }
}

function hitLine(hit) {
  const text = oneLine(hit.text);
  const said = {
    action: `* ${hit.nick} ${text}`,
    topic: `${hit.nick} set the topic: ${text}`,
    search: `${hit.nick} asked the AI: ${text}`,
    ai: `<AI> ${text}`,
  }[hit.kind] ?? `<${hit.nick}> ${text}`;
  return `[${moment(hit.ts)}] ${said}`;
}

function seenLine(event) {
  const online = event.online ? "; online now" : "";
  if (!event.at) return `${event.nick} has not been seen here${online}`;
  const ago = duration((new Date(event.ts) - new Date(event.at)) / 1000);
  const when = `${moment(event.at)} (${ago} ago)`;
  if (event.did === "left") {
    const why = event.text ? `: ${event.text}` : "";
    return `${event.nick} was last seen leaving ${event.room} ${when}${why}${online}`;
  }
  const text = oneLine(event.text);
  const doing = {
    action: `: * ${event.nick} ${text}`,
    topic: `, setting the topic: ${text}`,
    search: `, asking the AI: ${text}`,
  }[event.did] ?? `, saying: ${text}`;
  return `${event.nick} was last seen in ${event.room} ${when}${doing}${online}`;
}

function clock(ts) {
  const date = ts ? new Date(ts) : new Date();
  if (Number.isNaN(date.getTime())) return ["", ""];
  const hhmm = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false });
  return [hhmm, date.toLocaleString()];
}

class Chat {
  constructor() {
    this.socket = null;
    this.attempt = 0;
    this.retryTimer = null;
    this.phase = "connecting"; // then "password", "nick", "chat"
    this.me = null;
    this.wantedNick = "";
    this.password = "";
    this.passwordSent = false;
    this.defaultRoom = "#lobby";
    this.maxLineBytes = 4096;
    this.rooms = new Map(); // room key → {name, topic, members: Map key→nick, counted, away: Set, unread, log}
    this.current = null; // key of the room shown
    this.outside = null; // the log shown while in no room (made when first needed)
    this.restore = null; // after a reconnect: the rooms to join again, and the current one
    this.answers = new Map(); // search_id → the AI answer's element, while it streams
    this.history = [];
    this.historyAt = 0;
    this.completion = null;
    this.showUsers = 0; // /users typed by the person: shown in the log, not only the sidebar
    this.historyWanted = false;
    this.bind();
    this.connect();
  }

  // -- the connection -------------------------------------------------------------

  connect() {
    clearTimeout(this.retryTimer);
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    this.setLink("connecting", "connecting…");
    const socket = new WebSocket(`${scheme}//${location.host}/ws`);
    this.socket = socket;
    socket.addEventListener("message", (message) => this.receive(message.data));
    socket.addEventListener("close", (closed) => this.closed(socket, closed));
  }

  closed(socket, closed) {
    if (socket !== this.socket) return;
    this.socket = null;
    if (this.phase === "chat") {
      this.restore = { rooms: [...this.rooms.values()].map((r) => r.name), current: this.current };
      const why = closed.reason ? `: ${closed.reason}` : "";
      this.system(`disconnected${why}`);
    }
    this.phase = "connecting";
    const delay = backoff(this.attempt++);
    this.setLink("offline", `offline, reconnecting in ${Math.round(delay)} s`);
    this.retryTimer = setTimeout(() => this.connect(), delay * 1000);
  }

  setLink(state, text) {
    const link = $("link");
    link.dataset.state = state;
    link.textContent = text;
  }

  send(line) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(line);
      return true;
    }
    this.system("not connected: the line was not sent");
    return false;
  }

  receive(data) {
    let event;
    try {
      event = JSON.parse(data);
    } catch {
      return; // not an event: ignored, as the protocol asks of clients
    }
    if (!event || typeof event.type !== "string") return;
    const handler = this.handlers[event.type];
    if (!handler) return;
    // A page of older history (asked for by "load earlier") goes above what is shown;
    // a replay on joining arrives before the room's live lines, so it simply follows.
    const paging = this.historyWanted && event.history === true;
    if (paging && !this.earlier) this.earlier = [];
    this.fromHistory = event.history === true; // drawn dimmed
    try {
      handler.call(this, event);
    } finally {
      this.fromHistory = false;
    }
  }

  // -- registration ---------------------------------------------------------------

  showLogin(error) {
    $("login").hidden = false;
    $("login-error").textContent = error || "";
    $("password-row").hidden = this.phase !== "password";
    $("nick-row").hidden = this.phase === "password";
    $("login-intro").textContent =
      this.phase === "password" ? "This server asks for a password." : "Choose a nickname to join the chat.";
    const field = this.phase === "password" ? $("password") : $("nick");
    if (this.phase === "nick" && !field.value && this.wantedNick) field.value = this.wantedNick;
    field.focus();
  }

  login() {
    if (this.phase === "password") {
      this.password = $("password").value;
      if (!this.password) return;
      this.passwordSent = this.send(this.password);
    } else if (this.phase === "nick") {
      const nick = $("nick").value.trim();
      if (!nick) return;
      this.wantedNick = nick;
      this.send(nick);
    }
    $("login-error").textContent = "";
  }

  // -- the views --------------------------------------------------------------------

  room(name) {
    const key = nickKey(name || this.defaultRoom);
    let room = this.rooms.get(key);
    if (!room) {
      room = { name, topic: "", members: new Map(), counted: 0, away: new Set(), unread: 0, log: el("ol", "log") };
      room.log.hidden = true;
      room.log.setAttribute("aria-live", "polite");
      $("logs").append(room.log);
      this.rooms.set(key, room);
      this.drawRooms();
    }
    return room;
  }

  known(name) {
    return this.rooms.get(nickKey(name || this.defaultRoom)) || null;
  }

  forget(name) {
    const key = nickKey(name);
    const room = this.rooms.get(key);
    if (!room) return;
    room.log.remove();
    this.rooms.delete(key);
    if (this.current === key) this.current = null;
    this.drawLogs();
    this.drawRooms();
    this.drawRoom();
  }

  show(key) {
    this.current = key;
    this.drawLogs();
    const room = this.rooms.get(key);
    if (room) room.unread = 0;
    this.drawRooms();
    this.drawRoom();
    this.scroll(true);
  }

  // The current room's log, or, in no room, the page's own (not a room: it is in no list).
  drawLogs() {
    for (const [key, room] of this.rooms) room.log.hidden = key !== this.current;
    if (this.outside) this.outside.hidden = this.current !== null;
  }

  outsideLog() {
    if (!this.outside) {
      this.outside = el("ol", "log");
      this.outside.setAttribute("aria-live", "polite");
      $("logs").append(this.outside);
      this.outside.hidden = this.current !== null;
    }
    return this.outside;
  }

  currentRoom() {
    return this.current ? this.rooms.get(this.current) : null;
  }

  drawRooms() {
    const list = $("rooms");
    list.replaceChildren();
    for (const [key, room] of [...this.rooms].sort((a, b) => a[1].name.localeCompare(b[1].name))) {
      const button = el("button", key === this.current ? "room current" : "room", room.name);
      button.type = "button";
      button.addEventListener("click", () => this.switchTo(room.name));
      if (room.unread) button.append(el("span", "unread", String(room.unread)));
      const item = el("li");
      item.append(button);
      list.append(item);
    }
  }

  drawRoom() {
    const room = this.currentRoom();
    $("room-name").textContent = room ? room.name : "no room";
    $("topic").textContent = room ? room.topic : "/join #room to talk";
    const members = $("members");
    members.replaceChildren();
    $("members-note").hidden = true;
    if (!room) return;
    // A big room (past the server's --quiet-joins-above) announces no joins or parts: the
    // server gives its count, and the list holds only those heard of (/users lists all).
    const size = room.counted || room.members.size;
    $("members-heading").textContent = `People (${size.toLocaleString("en")})`;
    $("members-note").hidden = !(room.counted > room.members.size);
    $("members-note").textContent = `${room.members.size.toLocaleString("en")} shown; /users lists everyone`;
    const nicks = [...room.members.values()].sort((a, b) => nickKey(a).localeCompare(nickKey(b)));
    for (const nick of nicks) {
      const item = el("li", `nick c${nickColour(nick)}`, nick);
      if (room.away.has(nickKey(nick))) {
        item.classList.add("away");
        item.append(el("span", "away-mark", " (away)"));
      }
      members.append(item);
    }
  }

  switchTo(name) {
    const room = this.known(name);
    if (room && nickKey(room.name) === this.current) return;
    this.send(`/join ${name}`); // joining a room one is in makes it current
    document.body.classList.remove("menu-open");
  }

  // -- lines in the log ---------------------------------------------------------------

  scroll(force) {
    const logs = $("logs");
    const near = logs.scrollHeight - logs.scrollTop - logs.clientHeight < 80;
    if (force || near) logs.scrollTop = logs.scrollHeight;
  }

  line(roomName, ts, className, parts, count) {
    const room = roomName === null ? this.currentRoom() : this.known(roomName);
    const target = room || this.currentRoom();
    const item = el("li", `line ${className}${this.fromHistory ? " history" : ""}`);
    const [hhmm, full] = clock(ts);
    const time = el("time", "time", hhmm);
    time.title = full;
    item.append(time, " ", ...parts);
    if (this.earlier) {
      this.earlier.push(item); // placed above the room's lines at the end of the page
      return item;
    }
    const near = this.isNear();
    (target ? target.log : this.outsideLog()).append(item);
    if (count && target && nickKey(target.name) !== this.current) {
      target.unread += 1;
      this.drawRooms();
    }
    if (near) this.scroll(true);
    return item;
  }

  isNear() {
    const logs = $("logs");
    return logs.scrollHeight - logs.scrollTop - logs.clientHeight < 80;
  }

  nick(nick) {
    return el("span", `nick c${nickColour(nick)}`, nick);
  }

  system(text, roomName = null, ts = null) {
    return this.line(roomName, ts, "system", [el("span", "text", text)], false);
  }

  error(text) {
    return this.line(null, null, "error", [el("span", "text", text)], false);
  }

  message(event, own = false) {
    const parts = [this.nick(event.nick), el("span", "text", event.text)];
    const mine = own || event.nick === this.me;
    const mention = !mine && this.me && nickKey(event.text).includes(nickKey(this.me));
    const className = `message${mine ? " own" : ""}${mention ? " mention" : ""}`;
    this.line(event.room ?? this.defaultRoom, event.ts, className, parts, !mine);
  }

  action(event, own = false) {
    const parts = ["* ", this.nick(event.nick), " ", el("span", "text", event.text)];
    this.line(event.room ?? this.defaultRoom, event.ts, `action${own ? " own" : ""}`, parts, !own);
  }

  // -- input ------------------------------------------------------------------------------

  submit() {
    const input = $("input");
    const line = input.value;
    if (!line.trim()) return;
    if (utf8Length(line) > this.maxLineBytes) {
      this.error(`that line is longer than the server takes (${this.maxLineBytes} bytes); not sent`);
      return;
    }
    if (!this.send(line)) return;
    this.history.push(line);
    this.historyAt = this.history.length;
    input.value = "";
    this.echo(line);
  }

  // The server does not echo a line to its sender: show it as it will be shown to others.
  echo(line) {
    const room = this.currentRoom();
    const me = this.me;
    if (!line.startsWith("/") || line.startsWith("//")) {
      const text = line.startsWith("//") ? line.slice(1) : line;
      if (room) this.message({ nick: me, text, room: room.name }, true);
      return;
    }
    const [command, ...rest] = line.slice(1).split(" ");
    const name = command.toLowerCase();
    if (name === "me" && room && rest.join(" ").trim()) {
      this.action({ nick: me, text: rest.join(" "), room: room.name }, true);
    } else if (name === "msg" && rest.length > 1 && rest[0].startsWith("#")) {
      const target = this.known(rest[0]);
      if (target) this.message({ nick: me, text: rest.slice(1).join(" "), room: target.name }, true);
    } else if (name === "users") {
      this.showUsers += 1;
    }
  }

  recall(step) {
    if (!this.history.length) return;
    this.historyAt = Math.max(0, Math.min(this.history.length, this.historyAt + step));
    $("input").value = this.history[this.historyAt] ?? "";
  }

  complete() {
    const input = $("input");
    const room = this.currentRoom();
    if (!room) return;
    let state = this.completion;
    if (!state || input.value !== state.result) {
      const cursor = input.selectionStart ?? input.value.length;
      const before = input.value.slice(0, cursor);
      const start = before.search(/\S*$/);
      const prefix = nickKey(before.slice(start));
      const matches = [...room.members.values()]
        .filter((nick) => nick !== this.me && nickKey(nick).startsWith(prefix))
        .sort((a, b) => nickKey(a).localeCompare(nickKey(b)));
      if (!matches.length) return;
      state = { head: input.value.slice(0, start), tail: input.value.slice(cursor), matches, at: -1 };
    }
    state.at = (state.at + 1) % state.matches.length;
    const suffix = state.head ? " " : ": ";
    const done = state.head + state.matches[state.at] + suffix;
    state.result = done + state.tail;
    input.value = state.result;
    input.setSelectionRange(done.length, done.length);
    this.completion = state;
  }

  /** Put the page of older lines collected so far above the room's lines, keeping the
   * lines the reader is looking at where they are. */
  placeEarlier(roomName) {
    const lines = this.earlier || [];
    this.earlier = null;
    const room = this.known(roomName) || this.currentRoom();
    if (!room || !lines.length) return;
    const logs = $("logs");
    const fromBottom = logs.scrollHeight - logs.scrollTop;
    room.log.prepend(...lines);
    logs.scrollTop = logs.scrollHeight - fromBottom;
  }

  loadEarlier() {
    const room = this.currentRoom();
    if (!room) return;
    this.historyWanted = true;
    this.send("/history"); // the current room, which the page keeps the server's current
  }

  bind() {
    $("login-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.login();
    });
    $("input-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.submit();
    });
    $("join-form").addEventListener("submit", (e) => {
      e.preventDefault();
      let name = $("join-input").value.trim();
      if (!name) return;
      if (!name.startsWith("#")) name = `#${name}`;
      $("join-input").value = "";
      this.switchTo(name);
    });
    $("input").addEventListener("keydown", (e) => {
      if (e.key === "Tab" && !e.shiftKey && !e.altKey && !e.ctrlKey) {
        e.preventDefault();
        this.complete();
        return;
      }
      this.completion = e.key === "Shift" ? this.completion : null;
      if (e.key === "ArrowUp") {
        e.preventDefault();
        this.recall(-1);
      } else if (e.key === "ArrowDown") {
        e.preventDefault();
        this.recall(1);
      }
    });
    $("load-earlier").addEventListener("click", () => this.loadEarlier());
    $("menu").addEventListener("click", () => {
      const open = document.body.classList.toggle("menu-open");
      $("menu").setAttribute("aria-expanded", String(open));
    });
  }
}

// -- what each event does (docs/protocol.md, "Events and their two renderings") ----------

Chat.prototype.handlers = {
  notice(event) {
    if (this.phase === "connecting") {
      // The greeting asks for a nickname; on a server with a password it does not,
      // and the request for the password comes next (an error, password_required).
      this.setLink("online", "online");
      if (!/choose a nickname/i.test(String(event.text))) return;
      this.phase = "nick";
      if (this.me || this.wantedNick) {
        this.send(this.me || this.wantedNick); // back after a reconnect: the same nickname
      } else {
        this.showLogin();
      }
      return;
    }
    if (this.phase === "password" && this.passwordSent) {
      // "Password accepted. Choose a nickname:"
      this.phase = "nick";
      this.passwordSent = false;
      if (this.wantedNick) this.send(this.wantedNick);
      else this.showLogin();
      return;
    }
    if (this.phase !== "chat") return; // the nickname prompt again: the error says why
    for (const text of String(event.text).split("\n")) this.system(text, null, event.ts);
  },

  error(event) {
    const code = event.code;
    if (code === "password_required") {
      this.phase = "password";
      if (this.password && !this.passwordSent) {
        this.passwordSent = this.send(this.password);
        return;
      }
      this.showLogin();
      return;
    }
    if (code === "password_wrong") {
      this.passwordSent = false;
      this.password = "";
      $("password").value = "";
      this.showLogin(event.text);
      return;
    }
    if (this.phase !== "chat") {
      if (this.phase === "nick") {
        this.me = null;
        this.showLogin(event.text);
      }
      return;
    }
    if (this.historyWanted && code === "history_unavailable") {
      // "this server keeps no history" (--no-history) will not change: turn the
      // button off. A store that cannot be read right now may come back.
      this.historyWanted = false;
      const none = /keeps no history/.test(event.text);
      $("load-earlier").disabled = none;
      $("history-note").textContent = none ? "this server keeps no history yet" : event.text;
      return;
    }
    this.error(event.text);
  },

  history_end(event) {
    if (this.historyWanted) {
      // The end of a page that "load earlier" asked for: its lines go above the others.
      this.historyWanted = false;
      this.placeEarlier(event.room);
      $("history-note").textContent = event.more ? "" : `nothing older is kept in ${event.room}`;
      return;
    }
    // The end of the replay on joining: a rule between what was said and what comes now.
    if (event.count) this.line(event.room, event.ts, "history-end", ["end of history"], false);
  },

  welcome(event) {
    this.phase = "chat";
    this.attempt = 0;
    this.me = event.nick;
    this.wantedNick = event.nick;
    this.defaultRoom = event.room || "#lobby";
    if (Number.isInteger(event.max_line_bytes)) this.maxLineBytes = event.max_line_bytes;
    $("login").hidden = true;
    this.setLink("online", `online as ${event.nick}`);
    const room = this.room(this.defaultRoom);
    room.members = new Map((event.users || []).map((nick) => [nickKey(nick), nick]));
    room.counted = countOf(event);
    this.system(`Welcome, ${event.nick}! Type a message, or /help for the commands.`, room.name, event.ts);
    this.show(nickKey(room.name));
    $("input").focus();
    const restore = this.restore;
    this.restore = null;
    if (restore) {
      for (const name of restore.rooms) if (nickKey(name) !== nickKey(this.defaultRoom)) this.send(`/join ${name}`);
      const current = restore.rooms.find((name) => nickKey(name) === restore.current);
      if (current && nickKey(current) !== nickKey(this.defaultRoom)) this.send(`/join ${current}`);
    }
  },

  message(event) {
    this.message(event);
  },

  action(event) {
    this.action(event);
  },

  private(event) {
    const mine = event.nick === this.me;
    const who = mine ? `→ ${event.recipient}` : `${event.nick} →`;
    const parts = [el("span", "private-mark", "[private]"), " ", this.nick(mine ? event.recipient : event.nick)];
    parts.push(el("span", "private-way", mine ? " (you wrote)" : ""), " ", el("span", "text", event.text));
    const item = this.line(null, event.ts, "private", parts, false);
    item.title = who;
  },

  join(event) {
    const mine = event.nick === this.me;
    const room = mine ? this.room(event.room) : this.known(event.room);
    if (!room) return;
    room.members.set(nickKey(event.nick), event.nick);
    this.system(mine ? `you joined ${room.name}` : `${event.nick} joined`, room.name, event.ts);
    if (nickKey(room.name) === this.current) this.drawRoom();
  },

  part(event) {
    const room = this.known(event.room);
    if (!room) return;
    if (event.nick === this.me) {
      this.forget(room.name);
      return;
    }
    room.members.delete(nickKey(event.nick));
    const why = event.reason ? ` (${event.reason})` : "";
    this.system(`${event.nick} left the room${why}`, room.name, event.ts);
    if (nickKey(room.name) === this.current) this.drawRoom();
  },

  leave(event) {
    for (const room of this.rooms.values()) {
      if (room.members.delete(nickKey(event.nick))) {
        this.system(`${event.nick} left (${event.reason})`, room.name, event.ts);
      }
    }
    this.drawRoom();
  },

  nick(event) {
    if (event.old === this.me) {
      this.me = event.new;
      this.wantedNick = event.new;
      this.setLink("online", `online as ${event.new}`);
    }
    for (const room of this.rooms.values()) {
      if (room.members.delete(nickKey(event.old))) {
        room.members.set(nickKey(event.new), event.new);
        this.system(`${event.old} is now known as ${event.new}`, room.name, event.ts);
      }
    }
    this.drawRoom();
  },

  users(event) {
    const room = this.known(event.room);
    if (room) {
      room.members = new Map((event.users || []).map((nick) => [nickKey(nick), nick]));
      room.counted = countOf(event);
      room.away = new Set((event.away || []).map(nickKey));
      if (nickKey(room.name) === this.current) this.drawRoom();
    }
    if (this.showUsers > 0) {
      this.showUsers -= 1;
      const away = new Set((event.away || []).map(nickKey));
      const names = (event.users || []).map((n) => (away.has(nickKey(n)) ? `${n} (away)` : n));
      this.system(`${names.length} in ${event.room}: ${names.join(", ")}`, null, event.ts);
    }
  },

  topic(event) {
    const room = this.known(event.room);
    if (!room) return;
    room.topic = event.text || "";
    if (nickKey(room.name) === this.current) this.drawRoom();
    if (event.changed) {
      const said = event.text ? `${event.nick} set the topic: ${event.text}` : `${event.nick} cleared the topic`;
      this.system(said, room.name, event.ts);
    } else if (event.text) {
      this.system(`topic: ${event.text}${event.nick ? ` (set by ${event.nick})` : ""}`, room.name, event.ts);
    }
  },

  current(event) {
    if (event.room === null || event.room === undefined) {
      this.current = null;
      this.drawLogs();
      this.drawRooms();
      this.drawRoom();
      this.system("you are in no room; /join #room to talk");
      return;
    }
    this.show(nickKey(this.room(event.room).name));
  },

  rooms(event) {
    const list = Array.isArray(event.rooms) ? event.rooms : [];
    this.system(`${list.length} rooms:`, null, event.ts);
    for (const info of list) {
      const button = el("button", "room-link", info.name);
      button.type = "button";
      button.addEventListener("click", () => this.switchTo(info.name));
      const topic = info.topic ? `: ${info.topic}` : "";
      this.line(null, event.ts, "system", [button, el("span", "text", ` (${info.members})${topic}`)], false);
    }
  },

  whois(event) {
    const ops = new Set(event.operator_in || []);
    const rooms = (event.rooms || []).map((room) => (ops.has(room) ? `@${room}` : room)).join(", ") || "no room";
    const away = event.away !== null && event.away !== undefined ? `; away: ${event.away}` : "";
    const oper = event.server_operator ? "; server operator" : "";
    const times = `connected ${duration(event.connected)}; idle ${duration(event.idle)}`;
    this.system(`${event.nick}: in ${rooms}; ${times}${away}${oper}`, null, event.ts);
  },

  away(event) {
    this.system(`${event.nick} is away: ${event.text}`, null, event.ts);
  },

  search(event) {
    this.system(`${event.nick} asked the AI: ${event.question}`, event.room ?? this.defaultRoom, event.ts);
  },

  ai_delta(event) {
    let answer = this.answers.get(event.search_id);
    if (!answer) {
      const text = el("span", "text", "");
      const item = this.line(event.room ?? this.defaultRoom, event.ts, "ai streaming", [el("span", "nick ai-nick", "AI"), text], true);
      answer = { item, text };
      this.answers.set(event.search_id, answer);
    }
    answer.text.textContent += event.text;
    if (this.isNear()) this.scroll(true);
  },

  ai(event) {
    let answer = this.answers.get(event.search_id);
    this.answers.delete(event.search_id);
    if (!answer) {
      const text = el("span", "text", "");
      const item = this.line(event.room ?? this.defaultRoom, event.ts, "ai", [el("span", "nick ai-nick", "AI"), text], true);
      answer = { item, text };
    }
    answer.item.classList.remove("streaming");
    answer.text.textContent = event.text;
    const sources = Array.isArray(event.sources) ? event.sources : [];
    if (sources.length) {
      const list = el("ol", "sources");
      for (const source of sources) {
        const item = el("li");
        const href = safeUrl(String(source));
        if (href) {
          const link = el("a", "", String(source));
          link.href = href;
          link.rel = "noopener noreferrer";
          link.target = "_blank";
          item.append(link);
        } else {
          item.append(el("span", "", String(source)));
        }
        list.append(item);
      }
      answer.item.append(list);
    }
  },

  search_failed(event) {
    const answer = this.answers.get(event.search_id);
    this.answers.delete(event.search_id);
    if (answer) answer.item.classList.remove("streaming");
    this.system(`the AI could not answer ${event.nick}'s question`, event.room ?? this.defaultRoom, event.ts);
  },

  shutdown(event) {
    this.system(event.text || "the server is shutting down", null, event.ts);
  },

  kick(event) {
    const room = this.known(event.room);
    if (!room) return;
    const why = event.reason ? ` (${event.reason})` : "";
    if (event.target === this.me) {
      // Out of the room: its log goes, as on /part, and the page says why in the room on
      // screen, or, if that was it, in the one the server makes current next (the one
      // joined last of those left).
      this.forget(room.name);
      const shown = this.currentRoom() || [...this.rooms.values()].pop();
      this.system(`${event.nick} kicked you out of ${room.name}${why}`, shown ? shown.name : null, event.ts);
      return;
    }
    room.members.delete(nickKey(event.target));
    this.system(`${event.nick} kicked ${event.target} out of ${room.name}${why}`, room.name, event.ts);
    if (nickKey(room.name) === this.current) this.drawRoom();
  },

  mode(event) {
    this.system(modeLine(event), event.room && this.known(event.room) ? event.room : null, event.ts);
  },

  bans(event) {
    const list = Array.isArray(event.bans) ? event.bans : [];
    const where = event.room ? ` in ${event.room}` : "";
    if (!list.length) {
      this.system(`no bans${where}`, null, event.ts);
      return;
    }
    this.system(`${list.length} ${list.length === 1 ? "ban" : "bans"}${where}:`, null, event.ts);
    for (const ban of list) {
      const left = ban.expires_in === null ? "for good" : `${duration(ban.expires_in)} left`;
      const reason = ban.reason ? `: ${ban.reason}` : "";
      this.system(`  ${ban.target} from ${ban.room || "the server"}, by ${ban.by}, ${left}${reason}`, null, event.ts);
    }
  },

  find(event) {
    const hits = Array.isArray(event.hits) ? event.hits : [];
    if (!hits.length) {
      this.system(`no line of ${event.room} matches ${event.words}`, null, event.ts);
      return;
    }
    const verb = hits.length > 1 ? "match" : "matches";
    this.system(`${hits.length} ${hits.length === 1 ? "line" : "lines"} of ${event.room} ${verb} ${event.words}:`, null, event.ts);
    for (const hit of hits) this.system(`  ${hitLine(hit)}`, null, event.ts);
  },

  seen(event) {
    this.system(seenLine(event), null, event.ts);
  },
};

// For the tests, which compare the colour rule and the words with the terminal client's.
window.tcpchat = { nickColour, nickKey, safeUrl, duration, modeLine, seenLine };
window.addEventListener("DOMContentLoaded", () => {
  window.tcpchat.chat = new Chat();
});
