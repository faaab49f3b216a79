// Stack status page: polls /api/status (admins only) and renders it. No inline scripts or styles (CSP).
(function () {
  "use strict";

  const REFRESH_MS = 5000;
  const $ = (id) => document.getElementById(id);
  window.lvsStatus = { loads: 0, last: null }; // read by the browser tests
  // worker/stage -> {count, sum, latest}: the latest turns' own latency, from the change between two polls.
  const seen = new Map();

  function latestTurns(worker, st) {
    const key = `${worker}/${st.stage}`;
    const before = seen.get(key);
    let latest = before ? before.latest : null;
    if (before && st.count > before.count) latest = (st.sum_s - before.sum) / (st.count - before.count);
    if (before && st.count < before.count) latest = null; // the worker restarted
    seen.set(key, { count: st.count, sum: st.sum_s, latest });
    return latest;
  }

  function cell(text, className) {
    const td = document.createElement("td");
    td.textContent = text === null || text === undefined || text === "" ? "-" : String(text);
    if (className) td.className = className;
    return td;
  }

  function fill(tableId, rows) {
    const body = $(tableId).querySelector("tbody");
    body.replaceChildren(...rows.map((cells) => {
      const tr = document.createElement("tr");
      tr.append(...cells);
      return tr;
    }));
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "-";
    const s = Math.round(seconds);
    if (s < 120) return `${s} s`;
    if (s < 7200) return `${Math.round(s / 60)} min`;
    if (s < 172800) return `${(s / 3600).toFixed(1)} h`;
    return `${(s / 86400).toFixed(1)} d`;
  }

  function ms(seconds) {
    return seconds === null || seconds === undefined ? "-" : `${Math.round(seconds * 1000)} ms`;
  }

  function clock(epoch) {
    return new Date(epoch * 1000).toISOString().slice(11, 19);
  }

  function setStatus(state, text) {
    $("status").dataset.state = state;
    $("status").textContent = text;
  }

  function render(data) {
    const down = data.services.filter((s) => !s.healthy).map((s) => s.name);
    setStatus(down.length ? "error" : "agent-connected",
      down.length ? `Down: ${down.join(", ")}` : `All ${data.services.length} services healthy`);
    fill("services", data.services.map((s) => [
      cell(s.name), cell(s.healthy ? "healthy" : "down", s.healthy ? "health-ok" : "health-bad"),
      cell(s.state), cell(duration(s.uptime_s)),
    ]));

    const sessions = data.sessions;
    $("sessions-message").textContent = !sessions.ok ? sessions.error
      : sessions.rows.length ? `${sessions.rows.length} session(s)` : "No live sessions.";
    fill("sessions", sessions.rows.map((r) => [
      cell(r.room), cell(r.user), cell(r.letta_agent_id), cell(`${clock(r.since)} (${duration(r.age_s)} ago)`),
      cell(r.agent ? `${r.agent.state || "joined"}` : "no agent", r.agent ? "" : "health-bad"),
      cell(r.agent ? r.agent.worker : null), cell(r.humans.join(", ")),
    ]));

    const latency = [];
    for (const w of data.workers) {
      if (!w.up) { latency.push([cell(w.worker), cell("metrics unreachable", "health-bad"), cell(), cell(), cell(), cell(), cell()]); continue; }
      for (const st of Object.values(w.stages)) {
        const latest = latestTurns(w.worker, st);
        latency.push([cell(w.worker), cell(st.stage), cell(st.count), cell(ms(latest)), cell(ms(st.mean_s)),
          cell(ms(st.p50_s)), cell(ms(st.p95_s))]);
      }
    }
    fill("latency", latency);

    const rec = data.recovery;
    $("recovery-message").textContent = !rec.up ? "The recovery sidecar does not answer."
      : rec.actions.length ? `${rec.actions.length} action(s)` : "No recovery actions in the last hour.";
    fill("recovery", rec.actions.map((a) => [
      cell(clock(a.at)), cell(a.rule), cell(a.action), cell(a.outcome), cell(a.room), cell(a.identity),
    ]));

    const m = data.model;
    const facts = [
      ["provider", m.provider + (m.local ? " (offline)" : "")], ["model", m.model], ["file", m.local_file],
      ["context window", `${m.context_window} tokens`], ["reply cap", `${m.max_output_tokens} tokens`],
      ["speech", `STT ${m.stt}, TTS ${m.tts}`], ["can", m.can.join("; ")], ["cannot", m.cannot.join("; ") || "-"],
    ];
    $("model").replaceChildren(...facts.flatMap(([k, v]) => {
      const dt = document.createElement("dt");
      dt.textContent = k;
      const dd = document.createElement("dd");
      dd.textContent = v === null || v === undefined ? "-" : v;
      return [dt, dd];
    }));
  }

  function deny(text) {
    $("panels").hidden = true;
    $("denied").hidden = false;
    $("denied").textContent = text;
  }

  async function load() {
    let response;
    try {
      response = await fetch("/api/status", { headers: { Accept: "application/json" } });
    } catch (err) {
      setStatus("error", "The web service is unreachable; retrying.");
      return true;
    }
    let data = {};
    try { data = await response.json(); } catch (err) { data = {}; }
    if (response.status === 401) {
      setStatus("login", "Log in first.");
      deny("Log in on the voice page (with an admin account), then come back to /status.");
      return false;
    }
    if (response.status === 403) {
      setStatus("error", "Admins only.");
      deny("This page is for admins: your account may not see it.");
      return false;
    }
    if (!response.ok) {
      setStatus("error", data.error || `The web service answered ${response.status}; retrying.`);
      return true;
    }
    $("denied").hidden = true;
    $("panels").hidden = false;
    render(data);
    window.lvsStatus.loads += 1;
    window.lvsStatus.last = data;
    return true;
  }

  async function loop() {
    const again = await load();
    if (again) setTimeout(loop, REFRESH_MS);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", loop);
  else loop();
})();
