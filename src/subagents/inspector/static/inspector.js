"use strict";
// The subagents inspector: vanilla JS, no build step, nothing loaded from elsewhere.
// Left: a chat over the REST webhook (?stream=true, NDJSON). Right: the tracker
// (GET /conversations/{id}/tracker) laid open, and the turn in flight drawn from the
// live event stream (GET /conversations/{id}/live, Server-Sent Events).

const TRUNCATE = 400; // characters of a payload shown before "show all"
const params = new URLSearchParams(location.search);
const token = params.get("token");
const $ = (id) => document.getElementById(id);

const state = {
  conversation: params.get("conversation") || newId(),
  tracker: null,
  live: null, // the turn in flight, from live events
  source: null, // the EventSource
  busy: false,
};

function newId() {
  const bytes = new Uint8Array(6);
  crypto.getRandomValues(bytes);
  return "inspector-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// ------------------------------------------------------------------ HTTP

function authHeaders(extra) {
  const headers = Object.assign({}, extra || {});
  if (token) headers.Authorization = "Bearer " + token;
  return headers;
}

function withToken(url) {
  return token ? url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token) : url;
}

async function getJSON(path) {
  const response = await fetch(path, { headers: authHeaders(), cache: "no-store" });
  if (!response.ok) throw new Error(path + ": HTTP " + response.status);
  return response.json();
}

// ------------------------------------------------------------------ DOM helpers

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function text(value) {
  if (value === null || value === undefined) return "";
  return typeof value === "string" ? value : JSON.stringify(value, null, 2);
}

// A payload, cut to TRUNCATE characters with a "show all" button when longer.
function payload(value) {
  const full = text(value);
  const pre = el("pre", { class: "payload" });
  if (full.length <= TRUNCATE) {
    pre.textContent = full;
    return pre;
  }
  pre.textContent = full.slice(0, TRUNCATE) + "…";
  const button = el("button", { type: "button", class: "show-all" }, "show all (" + full.length + " characters)");
  button.addEventListener("click", () => {
    pre.textContent = full;
    button.remove();
  });
  return el("div", {}, pre, button);
}

function kv(pairs) {
  const dl = el("dl", { class: "kv" });
  for (const [key, value] of pairs) {
    if (value === null || value === undefined || value === "") continue;
    dl.append(el("dt", {}, key), el("dd", {}, value instanceof Node ? value : String(value)));
  }
  return dl;
}

function ms(value) {
  if (value === null || value === undefined) return "";
  return value >= 1000 ? (value / 1000).toFixed(2) + " s" : Math.round(value) + " ms";
}

function tokens(usage) {
  if (!usage) return 0;
  if (typeof usage.total_tokens === "number") return usage.total_tokens;
  return (usage.prompt_tokens || 0) + (usage.completion_tokens || 0);
}

function node(summary, attrs, ...body) {
  const details = el("details", Object.assign({ class: "node" }, attrs || {}));
  details.append(el("summary", {}, summary), el("div", { class: "body" }, ...body));
  return details;
}

// ------------------------------------------------------------------ the tracker, analysed

// Split the events into turns (a turn starts at each user event) and read every turn's
// flows, agent runs (iterations and tool calls), actions, messages and slot changes.
function analyse(events) {
  const turns = [];
  let turn = null;
  const begin = (event) => {
    turn = { user: event, items: [], runs: [], slots: [], start: event ? event.timestamp : null, end: null };
    turns.push(turn);
  };
  let lastSource = null;
  for (const event of events) {
    if (event.event === "user") {
      begin(event);
      lastSource = "user message (collect)";
      continue;
    }
    if (!turn) begin(null);
    if (turn.start === null) turn.start = event.timestamp;
    turn.end = event.timestamp;
    lastSource = readEvent(turn, event, lastSource);
  }
  for (const t of turns) t.totals = turnTotals(t);
  return turns;
}

function openRun(turn, agent) {
  let run = turn.runs.find((r) => r.agent === agent && !r.end);
  if (!run) {
    run = { agent, tools: [], modelCalls: [], end: null, resumed: true };
    turn.runs.push(run);
    turn.items.push({ kind: "run", run });
  }
  return run;
}

const AGENT_END = ["agent_completed", "agent_input_required", "agent_failed", "agent_cancelled"];

function readEvent(turn, event, lastSource) {
  const kind = event.event;
  if (kind === "agent_started") {
    const run = { agent: event.agent, flow: event.flow_id, step: event.step_id, tools: [], modelCalls: [], end: null, resumed: false };
    turn.runs.push(run);
    turn.items.push({ kind: "run", run });
  } else if ((kind === "tool_progress" || kind === "tool_sampling") && event.agent) {
    // What a tool reported while it ran (progress) or asked the model (sampling).
    const run = openRun(turn, event.agent);
    (run.progress || (run.progress = [])).push(event);
  } else if (kind === "tool_executed" && !event.agent) {
    // A flow's MCP tool step (no agent): shown where it ran.
    turn.items.push({ kind: "toolstep", event: Object.assign({ server: event.mcp_server }, event) });
    return "tool step " + event.name;
  } else if (kind === "tool_executed") {
    openRun(turn, event.agent).tools.push(event);
    return event.agent + " → " + event.name;
  } else if (AGENT_END.includes(kind)) {
    const run = openRun(turn, event.agent);
    run.end = event;
    run.modelCalls = event.model_calls || [];
    if (!run.flow) run.flow = event.flow_id;
    if (!run.step) run.step = event.step_id;
    return "agent " + event.agent;
  } else if (kind === "slot") {
    const by = slotSource(turn, event, lastSource);
    turn.slots.push({ name: event.name, value: event.value, by });
    turn.items.push({ kind: "slot", event, by });
  } else if (kind === "action") {
    turn.items.push({ kind: "action", event });
    return "action " + event.name;
  } else if (kind === "bot") {
    turn.items.push({ kind: "bot", event });
  } else if (kind && kind.startsWith("flow_")) {
    turn.items.push({ kind: "flow", event });
  } else if (kind) {
    turn.items.push({ kind: "other", event });
  }
  return lastSource;
}

// Which tool or step set a slot: the agent's set_slot_<name> call, else what ran last.
function slotSource(turn, event, lastSource) {
  for (let i = turn.runs.length - 1; i >= 0; i--) {
    const hit = turn.runs[i].tools.find((t) => t.name === "set_slot_" + event.name && !t.is_error);
    if (hit) return turn.runs[i].agent + " → " + hit.name;
  }
  return lastSource || "";
}

function turnTotals(turn) {
  const totals = { wall: 0, llm: 0, tool: 0, tokens: 0 };
  if (turn.start !== null && turn.end !== null) totals.wall = Math.max(0, (turn.end - turn.start) * 1000);
  for (const run of turn.runs) {
    for (const call of run.modelCalls) {
      totals.llm += call.duration_ms || 0;
      totals.tokens += tokens(call.usage);
    }
    for (const tool of run.tools) totals.tool += tool.duration_ms || 0;
  }
  return totals;
}

function exitReason(run) {
  const end = run.end;
  if (!end) return { text: "running…", failed: false };
  if (end.event === "agent_completed") {
    const completed = run.tools.some((t) => t.name === "task_completed" && !t.is_error);
    return { text: completed ? "task_completed" : "exit_if met", failed: false };
  }
  if (end.event === "agent_input_required") return { text: "asked the user", failed: false };
  if (end.event === "agent_cancelled") return { text: "cancelled: " + (end.reason || ""), failed: true };
  const error = end.error || "";
  if (/iteration limit/i.test(error)) return { text: "iteration limit: " + error, failed: true };
  return { text: "error: " + error, failed: true };
}

// ------------------------------------------------------------------ rendering: right pane

function renderRun(run, open) {
  const reason = exitReason(run);
  const totals = run.modelCalls.reduce((a, c) => a + tokens(c.usage), 0);
  const summary = [
    el("strong", {}, run.agent),
    run.resumed ? el("span", { class: "tag" }, "resumed") : null,
    el("span", { class: "tag exit " + (reason.failed ? "error" : "ok") }, reason.text),
    el("span", { class: "muted" }, " " + run.modelCalls.length + " iteration(s)" + (totals ? ", " + totals + " tokens" : "")),
    run.flow ? el("span", { class: "muted step" }, " · flow " + run.flow + (run.step ? ", step " + run.step : "")) : null,
  ];
  const iterations = new Map();
  for (const call of run.modelCalls) iterations.set(call.iteration, { call, tools: [] });
  const loose = [];
  for (const tool of run.tools) {
    const slot = iterations.get(tool.iteration);
    if (slot) slot.tools.push(tool);
    else loose.push(tool);
  }
  const body = [];
  for (const [number, { call, tools }] of iterations) {
    body.push(renderIteration(number, call, tools));
  }
  for (const tool of loose) body.push(renderTool(tool));
  const progress = run.progress || [];
  if (progress.length) {
    const describe = (p) => p.event === "tool_sampling"
      ? " asked the model " + (p.model || p.model_group || "") + (p.usage ? " (" + tokens(p.usage) + " tokens)" : "")
      : " " + (p.text || "");
    body.push(node("reported by tools while they ran (" + progress.length + ")", { class: "node progress" },
      el("ul", {}, progress.map((p) => el("li", { "data-event": p.event }, el("code", {}, p.name), describe(p))))));
  }
  body.push(el("p", { class: "exit-reason " + (reason.failed ? "error" : "") }, "exit: " + reason.text));
  return node(summary, { class: "node run" + (reason.failed ? " failed" : ""), "data-agent": run.agent, open: open || reason.failed }, ...body);
}

function renderIteration(number, call, tools) {
  const parts = ["iteration " + number];
  if (call) {
    parts.push(" · " + (call.model || "model") + " · " + ms(call.duration_ms));
    if (call.usage) parts.push(" · " + tokens(call.usage) + " tokens");
    if (call.finish_reason) parts.push(" · " + call.finish_reason);
  }
  const details = call
    ? kv([
        ["model", call.model],
        ["latency", ms(call.duration_ms)],
        ["finish reason", call.finish_reason],
        ["tool calls", call.tool_calls],
        ["usage", call.usage ? JSON.stringify(call.usage) : "not reported"],
      ])
    : null;
  const prompt = call && call.id ? promptButton(call.id) : null;
  return node(parts.join(""), { class: "node iteration", "data-iteration": number, open: true }, details, prompt, ...tools.map(renderTool));
}

// "show prompt": what the model was sent for this call, fetched on demand.
function promptButton(callId) {
  const box = el("div", { class: "prompt" });
  const button = el("button", { type: "button", class: "show-prompt" }, "show prompt");
  button.addEventListener("click", async () => {
    button.disabled = true;
    const path = "/conversations/" + encodeURIComponent(state.conversation) + "/prompts/" + encodeURIComponent(callId);
    try {
      const response = await fetch(path, { headers: authHeaders(), cache: "no-store" });
      const body = await response.json();
      if (!response.ok) {
        box.replaceChildren(el("p", { class: "muted" }, body.error || "HTTP " + response.status));
        return;
      }
      const messages = body.messages.map((m) => el("li", { "data-role": m.role },
        el("strong", {}, m.role), m.tool_calls ? el("span", { class: "muted" }, " (tool calls)") : null,
        payload(m.content !== null && m.content !== undefined ? m.content : m.tool_calls)));
      box.replaceChildren(
        el("p", { class: "muted" }, body.messages.length + " message(s); tools offered: " + (body.tools.join(", ") || "none")),
        el("ol", { class: "prompt-messages" }, messages));
      button.remove();
    } catch (error) {
      box.replaceChildren(el("p", { class: "error" }, "could not load the prompt: " + error.message));
    } finally {
      button.disabled = false;
    }
  });
  return el("div", {}, button, box);
}

function renderTool(tool) {
  const failed = !!tool.is_error;
  const summary = [
    el("code", {}, (tool.server ? tool.server + "/" : "") + tool.name),
    el("span", { class: "tag " + (failed ? "error" : "ok") }, failed ? "error" : "ok"),
    tool.reconnected ? el("span", { class: "tag" }, "reconnected") : null,
    tool.retried ? el("span", { class: "tag" }, "retried") : null,
    tool.duration_ms !== undefined && tool.duration_ms !== null ? el("span", { class: "muted" }, " " + ms(tool.duration_ms)) : null,
  ];
  return node(summary, { class: "node tool" + (failed ? " failed" : ""), "data-tool": tool.name },
    kv([
      ["server", tool.server],
      ["name", tool.name],
      ["duration", ms(tool.duration_ms)],
      ["arguments", payload(tool.arguments)],
      [failed ? "error" : "result", payload(tool.result)],
    ]));
}

function renderItem(item) {
  const e = item.event;
  switch (item.kind) {
    case "run":
      return el("li", { class: "item-run" }, renderRun(item.run, true));
    case "toolstep":
      return el("li", { class: "item-toolstep" }, "tool step ", el("code", {}, e.flow_id + "/" + e.step_id), renderTool(e));
    case "flow":
      return el("li", { class: "item-flow", "data-flow": e.flow_id }, e.event.replace("flow_", "flow ") + " ", el("code", {}, e.flow_id),
        e.reason ? el("span", { class: "muted" }, " (" + e.reason + ")") : null,
        e.by ? el("span", { class: "muted" }, " by " + e.by) : null);
    case "action": {
      const facts = [e.executor, ms(e.duration_ms)];
      if (e.events !== undefined) facts.push(e.events + " event(s) returned");
      if (e.streamed) facts.push(e.streamed + " chunk(s) streamed");
      return el("li", { class: "item-action", "data-action": e.name }, "action ", el("code", {}, e.name),
        el("span", { class: "muted" }, " " + facts.filter(Boolean).join(" · ")));
    }
    case "slot":
      return el("li", { class: "item-slot" }, "slot ", el("code", {}, e.name), " = ", el("code", {}, text(e.value)),
        item.by ? el("span", { class: "muted" }, " (set by " + item.by + ")") : null);
    case "bot": {
      const meta = e.metadata || {};
      const tags = [];
      if (meta.barged_in) tags.push(el("span", { class: "tag" }, "barged in"));
      if (meta.partial) tags.push(el("span", { class: "tag" }, "partial"));
      return el("li", { class: "item-bot" }, el("span", { class: "muted" }, "bot: "), e.text || text(e.data), ...tags);
    }
    default:
      return el("li", { class: "item-other muted" }, e.event + (e.name ? " " + e.name : "") + (e.error ? ": " + e.error : ""));
  }
}

function renderTimeline(turns) {
  const root = $("timeline");
  root.replaceChildren();
  turns.forEach((turn, index) => {
    const t = turn.totals;
    const said = turn.user ? "“" + (turn.user.text || "") + "”" : "(start)";
    const summary = [
      el("strong", {}, "Turn " + (index + 1) + " "), said,
      el("span", { class: "muted" }, " · wall " + ms(t.wall) + " · LLM " + ms(t.llm) + " · tools " + ms(t.tool) + (t.tokens ? " · " + t.tokens + " tokens" : "")),
    ];
    const details = el("details", { class: "turn", "data-turn": index + 1, open: index >= turns.length - 2 });
    details.append(el("summary", {}, summary), el("ul", { class: "items" }, turn.items.map(renderItem)));
    root.append(details);
  });
  if (state.live) root.append(renderLive(state.live));
  if (!turns.length && !state.live) root.append(el("p", { class: "muted" }, "No turns yet: say something."));
}

function renderSlots(tracker, turns) {
  const setBy = new Map();
  turns.forEach((turn, index) => {
    for (const slot of turn.slots) setBy.set(slot.name, { by: slot.by, turn: index + 1 });
  });
  const last = turns.length;
  const rows = Object.entries(tracker.slots || {}).map(([name, value]) => {
    const info = setBy.get(name);
    const changed = info && info.turn === last;
    return el("tr", { class: changed ? "changed" : "", "data-slot": name },
      el("td", {}, el("code", {}, name)),
      el("td", { class: "value" }, value === null ? el("span", { class: "muted" }, "null") : text(value)),
      el("td", { class: "by" }, info ? info.by + " (turn " + info.turn + ")" : ""));
  });
  const table = el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "slot"), el("th", {}, "value"), el("th", {}, "set by"))), el("tbody", {}, rows));
  $("slots").replaceChildren(rows.length ? table : el("p", { class: "muted" }, "The domain has no slots."));
}

function renderStack(tracker) {
  const frames = (tracker.stack || []).slice().reverse();
  if (!frames.length) {
    $("stack").replaceChildren(el("p", { class: "muted" }, "empty (no flow active)"));
    return;
  }
  const list = el("ol", { class: "stack" }, frames.map((frame) => {
    const waiting = frame.waiting ? " · waiting for " + (frame.waiting.kind === "collect" ? "slot " + frame.waiting.slot : "agent " + frame.waiting.agent) : "";
    return el("li", { "data-flow": frame.flow_id }, el("code", {}, frame.flow_id), " at step ", el("code", {}, frame.step_id), waiting);
  }));
  $("stack").replaceChildren(list);
}

function renderTotals(turns) {
  const sum = { wall: 0, llm: 0, tool: 0, tokens: 0 };
  for (const turn of turns) for (const key of Object.keys(sum)) sum[key] += turn.totals[key];
  const last = turns.length ? turns[turns.length - 1].totals : null;
  const row = (label, t) => el("tr", {}, el("th", {}, label), el("td", {}, ms(t.wall)), el("td", {}, ms(t.llm)), el("td", {}, ms(t.tool)), el("td", {}, String(t.tokens)));
  const head = el("tr", {}, el("th", {}, ""), el("th", {}, "wall"), el("th", {}, "LLM (agents)"), el("th", {}, "tools"), el("th", {}, "tokens"));
  const body = [row("conversation (" + turns.length + " turns)", sum)];
  if (last) body.push(row("latest turn", last));
  $("totals").replaceChildren(el("table", { id: "totals-table" }, el("thead", {}, head), el("tbody", {}, body)));
}

function renderTracker() {
  const tracker = state.tracker;
  if (!tracker) return;
  const turns = analyse(tracker.events || []);
  renderTotals(turns);
  renderStack(tracker);
  renderSlots(tracker, turns);
  renderTimeline(turns);
}

// ------------------------------------------------------------------ the turn in flight

function liveRun(live, agent) {
  let run = live.runs.find((r) => r.agent === agent && !r.done);
  if (!run) {
    run = { agent, iterations: new Map(), tools: [], done: false };
    live.runs.push(run);
  }
  return run;
}

function onLiveEvent(event) {
  const kind = event.event;
  if (kind === "live") {
    document.body.dataset.live = "on";
    $("live").textContent = "live";
    return;
  }
  if (kind === "turn_finished" || kind === "lagged") {
    state.live = null;
    $("status").textContent = "";
    loadTracker();
    loadConversations();
    return;
  }
  if (kind === "turn_started") {
    state.live = { runs: [], actions: [], notes: [], started: event.time };
  }
  const live = state.live || (state.live = { runs: [], actions: [], notes: [], started: event.time });
  if (kind === "still_working") {
    $("status").textContent = "still working (" + event.elapsed + " s)…";
  } else if (kind === "tool_started" && event.kind === "agent") {
    liveRun(live, event.name);
    $("status").textContent = event.name + " is working…";
  } else if (kind === "tool_finished" && event.kind === "agent") {
    liveRun(live, event.name).done = true;
  } else if (kind === "model_called") {
    const run = liveRun(live, event.agent);
    run.iterations.set(event.iteration, { call: event, tools: [] });
  } else if (kind === "tool_started" && event.kind === "tool") {
    const run = liveRun(live, event.agent);
    const iteration = run.iterations.get(event.iteration);
    const tool = { name: event.name, server: event.server, running: true };
    (iteration ? iteration.tools : run.tools).push(tool);
    $("status").textContent = event.agent + " → " + event.name + "…";
  } else if (kind === "tool_finished" && event.kind === "tool") {
    const run = liveRun(live, event.agent);
    const iteration = run.iterations.get(event.iteration);
    const list = iteration ? iteration.tools : run.tools;
    const tool = list.find((t) => t.name === event.name && t.running);
    if (tool) Object.assign(tool, { running: false, is_error: event.is_error, duration_ms: event.duration_ms });
  } else if (kind === "tool_progress") {
    const run = liveRun(live, event.agent);
    const all = run.tools.concat(...Array.from(run.iterations.values(), (i) => i.tools));
    const tool = all.find((t) => t.name === event.name && t.running);
    if (tool) tool.progress = event.text;
    $("status").textContent = event.agent + " → " + event.name + ": " + (event.text || "");
  } else if (kind === "tool_started" && event.kind === "action") {
    live.actions.push({ name: event.name, running: true, executor: event.executor });
    $("status").textContent = "running " + event.name + "…";
  } else if (kind === "tool_finished" && event.kind === "action") {
    const action = live.actions.find((a) => a.name === event.name && a.running);
    if (action) Object.assign(action, { running: false, is_error: event.is_error, duration_ms: event.duration_ms });
  } else if (kind !== "turn_started") {
    // Any other kind (a tool's question to the user, say): shown as it comes.
    live.notes.push(event);
  }
  const current = document.querySelector(".turn.live");
  const fresh = renderLive(live);
  if (current) current.replaceWith(fresh);
  else $("timeline").append(fresh);
}

function renderLive(live) {
  const items = [];
  for (const action of live.actions) {
    const done = action.is_error ? "failed" : "done";
    items.push(el("li", { class: "item-action" + (action.is_error ? " error" : ""), "data-action": action.name }, "action ", el("code", {}, action.name),
      el("span", { class: "muted" }, " " + [action.executor, action.running ? "running…" : done + " in " + ms(action.duration_ms)].filter(Boolean).join(" · "))));
  }
  for (const run of live.runs) {
    const body = [];
    for (const [number, { call, tools }] of run.iterations) {
      body.push(renderIteration(number, call, []));
      body[body.length - 1].querySelector(".body").append(...tools.map(renderLiveTool));
    }
    body.push(...run.tools.map(renderLiveTool));
    const summary = [el("strong", {}, run.agent), el("span", { class: "tag" }, run.done ? "done" : "running…"),
      el("span", { class: "muted" }, " " + run.iterations.size + " iteration(s)")];
    items.push(el("li", { class: "item-run" }, node(summary, { class: "node run live-run", "data-agent": run.agent, open: true }, ...body)));
  }
  for (const note of live.notes) {
    const who = [note.agent, note.name].filter(Boolean).join(" → ");
    items.push(el("li", { class: "item-note", "data-event": note.event }, el("span", { class: "tag" }, note.event), " " + who + (note.text ? ": " + note.text : "")));
  }
  const details = el("details", { class: "turn live", open: true });
  details.append(el("summary", {}, el("strong", {}, "Turn in progress…")), el("ul", { class: "items" }, items));
  return details;
}

function renderLiveTool(tool) {
  const status = tool.running ? "running…" : tool.is_error ? "error" : "ok";
  return el("div", { class: "node tool live-tool" + (tool.is_error ? " failed" : ""), "data-tool": tool.name },
    el("code", {}, (tool.server ? tool.server + "/" : "") + tool.name),
    el("span", { class: "tag " + (tool.is_error ? "error" : tool.running ? "" : "ok") }, status),
    tool.running && tool.progress ? el("span", { class: "muted progress" }, " " + tool.progress) : null,
    tool.duration_ms !== undefined && tool.duration_ms !== null ? el("span", { class: "muted" }, " " + ms(tool.duration_ms)) : null);
}

function connectLive() {
  if (state.source) state.source.close();
  document.body.dataset.live = "off";
  $("live").textContent = "connecting…";
  const source = new EventSource(withToken("/conversations/" + encodeURIComponent(state.conversation) + "/live"));
  source.onmessage = (message) => {
    try {
      onLiveEvent(JSON.parse(message.data));
    } catch (error) {
      console.error(error);
    }
  };
  source.onerror = () => {
    document.body.dataset.live = "off";
    $("live").textContent = "reconnecting…";
  };
  state.source = source;
}

// ------------------------------------------------------------------ rendering: chat

function addMessage(role, content, extra) {
  const item = el("li", Object.assign({ class: role }, extra || {}), content);
  $("messages").append(item);
  item.scrollIntoView({ block: "end" });
  return item;
}

function messageText(message) {
  if (message.text) return message.text;
  if (message.buttons) return message.buttons.map((b) => "[" + b.title + "]").join(" ");
  return text(message.custom || message.attachment || message.image || "");
}

function renderChatHistory() {
  $("messages").replaceChildren();
  for (const event of (state.tracker && state.tracker.events) || []) {
    if (event.event === "user") addMessage("user", event.text || "");
    else if (event.event === "bot") addMessage("bot", event.text || text(event.data));
  }
}

async function send(message) {
  if (state.busy || !message.trim()) return;
  state.busy = true;
  document.body.dataset.busy = "true";
  addMessage("user", message);
  let streaming = null;
  try {
    const response = await fetch("/webhooks/rest/webhook?stream=true", {
      method: "POST",
      headers: authHeaders({ "Content-Type": "application/json" }),
      body: JSON.stringify({ sender: state.conversation, message }),
    });
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      addMessage("bot error", "HTTP " + response.status + ": " + (body.error || response.statusText));
      return;
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let newline;
      while ((newline = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, newline).trim();
        buffer = buffer.slice(newline + 1);
        if (!line) continue;
        const item = JSON.parse(line);
        if (item.event) continue; // still_working, tool_progress: the live stream shows them
        if (item.chunk) {
          if (!streaming) streaming = addMessage("bot streaming", "");
          streaming.textContent += item.text || "";
        } else {
          if (streaming) streaming.classList.remove("streaming");
          streaming = null;
          addMessage("bot", messageText(item));
        }
      }
    }
  } catch (error) {
    addMessage("bot error", "could not reach the server: " + error.message);
  } finally {
    if (streaming) streaming.classList.remove("streaming");
    state.busy = false;
    document.body.dataset.busy = "false";
    loadTracker();
  }
}

// ------------------------------------------------------------------ conversations

async function loadTracker() {
  try {
    state.tracker = await getJSON("/conversations/" + encodeURIComponent(state.conversation) + "/tracker");
    renderTracker();
  } catch (error) {
    $("status").textContent = "could not load the tracker: " + error.message;
  }
}

async function loadConversations() {
  try {
    const body = await getJSON("/conversations");
    const select = $("conversations");
    const options = body.conversations.map((c) => {
      const when = c.latest_event_time ? new Date(c.latest_event_time * 1000).toLocaleString() : "";
      const label = c.sender_id + (c.latest_message ? " — " + c.latest_message.slice(0, 40) : "") + (when ? " (" + when + ")" : "");
      return el("option", { value: c.sender_id }, label);
    });
    if (!body.conversations.some((c) => c.sender_id === state.conversation)) {
      options.unshift(el("option", { value: state.conversation }, state.conversation + " (new)"));
    }
    select.replaceChildren(...options);
    select.value = state.conversation;
  } catch (error) {
    $("status").textContent = "could not list conversations: " + error.message;
  }
}

async function openConversation(conversation) {
  state.conversation = conversation;
  state.live = null;
  state.tracker = null;
  const url = new URL(location.href);
  url.searchParams.set("conversation", conversation);
  history.replaceState(null, "", url);
  $("conversation-id").textContent = conversation;
  connectLive();
  await loadTracker();
  renderChatHistory();
  await loadConversations();
}

// ------------------------------------------------------------------ wiring

$("composer").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = $("input");
  const message = input.value;
  input.value = "";
  send(message);
  input.focus();
});
$("new").addEventListener("click", () => openConversation(newId()));
$("restart").addEventListener("click", () => send("/restart"));
$("refresh").addEventListener("click", () => loadConversations());
$("conversations").addEventListener("change", (event) => openConversation(event.target.value));
document.addEventListener("keydown", (event) => {
  if (event.altKey && (event.key === "n" || event.key === "N")) {
    event.preventDefault();
    openConversation(newId());
  } else if (event.key === "/" && document.activeElement !== $("input")) {
    event.preventDefault();
    $("input").focus();
  }
});
openConversation(state.conversation).then(() => $("input").focus());
