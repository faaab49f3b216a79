// Letta Voice page: pick a Letta agent, start a session, talk. Uses the vendored livekit-client (UMD).
(function () {
  "use strict";

  const LK = window.LivekitClient;
  const AGENT_WAIT_MS = 30000;
  const TOPIC_TRANSCRIPTION = "lk.transcription";
  const TOPIC_CHAT = "lk.chat";
  const TOPIC_SWITCH = "lvs.switch-agent";
  const ATTR_AGENT_STATE = "lk.agent.state";
  const ATTR_SEGMENT = "lk.segment_id";
  const ATTR_LETTA_AGENT = "lvs.letta_agent_id";
  const OWN_ROOM_KEY = "lvs.room"; // this tab's last session (survives a reload, not another tab)

  const STATUS_TEXT = {
    idle: "Pick an agent and press Connect.",
    connecting: "Connecting…",
    waiting: "Waiting for the agent…",
    "agent-connected": "Agent connected",
    listening: "Agent connected: listening",
    thinking: "Agent connected: thinking…",
    speaking: "Agent connected: speaking",
    reconnecting: "Reconnecting…",
    "agent-left": "The agent left the session.",
    disconnected: "Disconnected.",
    error: "Something went wrong.",
    login: "Log in to continue.",
  };

  const $ = (id) => document.getElementById(id);
  const el = {
    status: $("status"), retry: $("retry"), takeover: $("takeover"), notice: $("offline-notice"),
    modelName: $("model-name"), search: $("agent-search"), refresh: $("agent-refresh"),
    agentsMessage: $("agents-message"), list: $("agent-list"), createForm: $("create-form"),
    createMessage: $("create-message"), session: $("session"), selected: $("selected"),
    connect: $("connect"), disconnect: $("disconnect"), mute: $("mute"),
    agentState: $("agent-state"), agentStateText: $("agent-state-text"), agentViz: $("agent-viz"), micViz: $("mic-viz"),
    switchForm: $("switch-form"), switchSelect: $("switch-agent"), switchButton: $("switch-button"),
    textForm: $("text-form"), textInput: $("text-input"), textSend: $("text-send"),
    transcript: $("transcript"), audio: $("audio-sink"),
    app: $("app"), login: $("login"), loginForm: $("login-form"), loginMessage: $("login-message"),
    account: $("account"), accountName: $("account-name"), logout: $("logout"),
  };

  // Everything the page knows; one session at a time.
  const state = {
    agents: [], selectedId: null, room: null, session: null, agent: null, waitTimer: null,
    meterPeak: 0, leaving: false, segments: new Map(), joinOffer: null,
    visual: { frame: 0, agent: null, mic: null, levels: { agent: 0, mic: 0 }, agentPeak: 0, agentFrames: 0 },
    timings: {}, user: null,
  };
  window.lvs = state; // read by the browser tests and benchmarks

  // ---------------------------------------------------------------- status line
  function setStatus(name, detail) {
    el.status.dataset.state = name;
    el.status.textContent = detail ? `${STATUS_TEXT[name]} ${detail}` : STATUS_TEXT[name];
    const failed = name === "error" || name === "agent-left" || name === "disconnected";
    el.retry.hidden = !failed || !(state.selectedId || state.joinOffer);
    if (name !== "error") el.takeover.hidden = true;
    el.session.dataset.connection = name;
  }

  function setAgentPresence(value) {
    el.session.dataset.agent = value; // none | waiting | connected | left
  }

  // ---------------------------------------------------------------- agent state indicator
  const AGENT_STATE_TEXT = {
    off: "Not connected", connecting: "Connecting…", waiting: "Waiting for the agent…",
    initializing: "Agent starting…", listening: "Listening", thinking: "Thinking…", speaking: "Speaking",
    left: "The agent left",
  };

  function showAgentState(name) {
    const known = name in AGENT_STATE_TEXT ? name : "listening";
    el.agentState.dataset.state = known;
    el.agentStateText.textContent = AGENT_STATE_TEXT[known];
  }

  // ---------------------------------------------------------------- API helpers
  async function api(method, path, body) {
    const init = { method, headers: {} };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (err) {
      return { ok: false, status: 0, data: { error: "the web service is unreachable" } };
    }
    let data = {};
    try { data = await response.json(); } catch (err) { data = {}; }
    if (response.status === 401 && path !== "/api/login") showLogin();
    return { ok: response.ok, status: response.status, data };
  }

  // ---------------------------------------------------------------- login
  function showLogin(message) {
    el.app.hidden = true;
    el.account.hidden = true;
    el.login.hidden = false;
    el.loginMessage.textContent = message || "";
    setStatus("login");
    el.loginForm.name.focus();
  }

  function showApp(me) {
    state.user = me.user;
    el.login.hidden = true;
    el.app.hidden = false;
    el.account.hidden = !me.auth;
    el.accountName.textContent = me.user ? `Logged in as ${me.user}${me.admin ? " (admin)" : ""}` : "";
    setStatus("idle");
    renderSelection();
    loadConfig();
    loadAgents();
  }

  async function login(event) {
    event.preventDefault();
    const form = el.loginForm;
    for (const input of form.querySelectorAll("input")) input.removeAttribute("aria-invalid");
    const res = await api("POST", "/api/login", { name: form.name.value.trim(), password: form.password.value });
    if (!res.ok) {
      el.loginMessage.textContent = res.data.error || `Login failed (${res.status}).`;
      const field = res.data.field && form.elements[res.data.field];
      if (field) { field.setAttribute("aria-invalid", "true"); field.focus(); }
      return;
    }
    form.password.value = "";
    await start();
  }

  async function logout() {
    if (state.room) await disconnect();
    await api("POST", "/api/logout", {});
    state.agents = [];
    state.selectedId = null;
    showLogin("Logged out.");
  }

  async function start() {
    const res = await api("GET", "/api/me");
    if (res.ok) showApp(res.data);
    else if (res.status !== 401) setStatus("error", res.data.error || `The web service answered ${res.status}.`);
  }

  // ---------------------------------------------------------------- config + notice
  async function loadConfig() {
    const res = await api("GET", "/api/config");
    if (!res.ok) return;
    if (res.data.offline_model) {
      el.modelName.textContent = res.data.llm && res.data.llm.model ? res.data.llm.model : "Qwen2.5-Coder-0.5B";
      el.notice.hidden = false;
    }
  }

  // ---------------------------------------------------------------- agent list
  async function loadAgents() {
    el.agentsMessage.textContent = "Loading agents…";
    el.refresh.disabled = true;
    const res = await api("GET", "/api/agents");
    el.refresh.disabled = false;
    if (!res.ok) {
      el.agentsMessage.textContent = `Could not load agents: ${res.data.error || res.status}`;
      return;
    }
    state.agents = res.data.agents || [];
    if (state.selectedId && !state.agents.some((a) => a.id === state.selectedId)) state.selectedId = null;
    if (!state.selectedId && state.agents.length === 1) state.selectedId = state.agents[0].id;
    renderAgents();
  }

  function renderAgents() {
    const query = el.search.value.trim().toLowerCase();
    const shown = state.agents.filter((a) =>
      !query || [a.name, a.persona, a.id].some((s) => (s || "").toLowerCase().includes(query)));
    el.list.replaceChildren(...shown.map((agent) => {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "agent";
      button.dataset.agentId = agent.id;
      button.setAttribute("aria-pressed", String(agent.id === state.selectedId));
      const name = document.createElement("span");
      name.className = "agent-name";
      name.textContent = agent.name || agent.id;
      const persona = document.createElement("span");
      persona.className = "agent-persona";
      persona.textContent = agent.persona || "";
      button.append(name, persona);
      button.addEventListener("click", () => selectAgent(agent.id));
      item.append(button);
      return item;
    }));
    el.agentsMessage.textContent = state.agents.length === 0 ? "No agents yet: create one below."
      : shown.length === 0 ? "No agent matches the search." : `${shown.length} of ${state.agents.length} agents`;
    renderSelection();
    renderSwitchOptions();
  }

  function selectAgent(id) {
    state.selectedId = id;
    state.joinOffer = null;
    renderAgents();
  }

  function agentName(id) {
    const agent = state.agents.find((a) => a.id === id);
    return agent ? agent.name : id;
  }

  function renderSelection() {
    if (state.joinOffer) {
      el.selected.textContent = `Ready to join session ${state.joinOffer.room}.`;
    } else {
      el.selected.textContent = state.selectedId ? `Selected: ${agentName(state.selectedId)}` : "No agent selected.";
    }
    el.connect.disabled = Boolean(state.room) || !(state.selectedId || state.joinOffer);
  }

  function renderSwitchOptions() {
    const current = state.session ? state.session.agent_id : null;
    el.switchSelect.replaceChildren(...state.agents.filter((a) => a.id !== current).map((a) => {
      const option = document.createElement("option");
      option.value = a.id;
      option.textContent = a.name || a.id;
      return option;
    }));
    const live = agentReady();
    el.switchSelect.disabled = !live || el.switchSelect.options.length === 0;
    el.switchButton.disabled = el.switchSelect.disabled;
  }

  // ---------------------------------------------------------------- create agent
  async function createAgent(event) {
    event.preventDefault();
    const form = el.createForm;
    for (const input of form.querySelectorAll("input, textarea")) input.removeAttribute("aria-invalid");
    el.createMessage.textContent = "";
    const body = { name: form.name.value.trim(), persona: form.persona.value.trim(), human: form.human.value.trim() };
    const submit = form.querySelector("button[type=submit]");
    submit.disabled = true;
    const res = await api("POST", "/api/agents", body);
    submit.disabled = false;
    if (!res.ok) {
      el.createMessage.textContent = res.data.error || `failed (${res.status})`;
      const field = res.data.field && form.elements[res.data.field];
      if (field) { field.setAttribute("aria-invalid", "true"); field.focus(); }
      return;
    }
    form.name.value = "";
    state.selectedId = res.data.id;
    await loadAgents();
  }

  // ---------------------------------------------------------------- transcript
  function addLine(who, text, key) {
    let item = key ? state.segments.get(key) : null;
    if (!item) {
      item = document.createElement("li");
      item.className = `line ${who}`;
      item.dataset.who = who;
      const speaker = document.createElement("span");
      speaker.className = "speaker";
      speaker.textContent = who === "agent" ? "Agent" : who === "user" ? "You" : "";
      const words = document.createElement("span");
      words.className = "words";
      item.append(speaker, words);
      el.transcript.append(item);
      if (key) state.segments.set(key, item);
    }
    item.querySelector(".words").textContent = text;
    item.scrollIntoView({ block: "nearest" });
  }

  function onTranscription(reader, participantInfo) {
    const attrs = (reader.info && reader.info.attributes) || {};
    const who = state.room && participantInfo.identity === state.room.localParticipant.identity ? "user" : "agent";
    const key = attrs[ATTR_SEGMENT] || reader.info.id;
    let text = "";
    (async () => {
      try {
        for await (const chunk of reader) {
          text += chunk;
          if (text.trim()) addLine(who, text, key);
        }
      } catch (err) {
        console.warn("transcription stream failed", err);
      }
    })();
  }

  // ---------------------------------------------------------------- agent detection (race-free)
  function isAgent(participant) {
    return Boolean(participant) && (participant.isAgent || participant.kind === LK.ParticipantKind.AGENT);
  }

  // The one place that notices the agent: called from the participant list after connect()
  // and from ParticipantConnected, whichever comes first; the waiting timeout is cleared either way.
  function agentJoined(participant, via) {
    if (!isAgent(participant) || state.agent) return;
    state.agent = participant;
    state.timings.detectedBy = via;
    clearTimeout(state.waitTimer);
    state.waitTimer = null;
    state.timings.agentConnected = performance.now();
    setAgentPresence("connected");
    setStatus("agent-connected");
    applyAgentState();
    renderSwitchOptions();
    loadAgents(); // the user's agents, fresh, for the switch list
  }

  // The agent reads typed and switch messages once its voice session runs, which is when it first publishes
  // its state: until then the page keeps those controls off (a message sent earlier would be dropped).
  function agentReady() {
    return Boolean(state.agent && state.agent.attributes[ATTR_AGENT_STATE]);
  }

  function renderAgentControls() {
    const ready = agentReady();
    el.textInput.disabled = !ready;
    el.textSend.disabled = !ready;
    renderSwitchOptions();
  }

  function applyAgentState() {
    if (!state.agent) return;
    const value = state.agent.attributes[ATTR_AGENT_STATE];
    if (value === "listening" || value === "thinking" || value === "speaking") setStatus(value);
    else setStatus("agent-connected");
    showAgentState(value === "idle" ? "listening" : value || "initializing");
    renderAgentControls();
  }

  function agentLeft(participant) {
    if (!state.agent || participant.identity !== state.agent.identity) return;
    state.agent = null;
    stopVisual("agent");
    setAgentPresence("left");
    setStatus("agent-left");
    showAgentState("left");
    renderSwitchOptions();
    el.textInput.disabled = true;
    el.textSend.disabled = true;
  }

  function checkParticipants() {
    for (const participant of state.room.remoteParticipants.values()) agentJoined(participant, "list");
  }

  // ---------------------------------------------------------------- voice visualisers
  // One Web Audio AnalyserNode per track (livekit-client's createAudioAnalyser), drawn as bars on a canvas
  // in one animation loop: the agent's voice and the microphone. The levels are read every animation frame;
  // the bars are redrawn at most 30 times a second, and a silent meter is drawn flat once and then left alone:
  // software canvas drawing at 60 frames a second cost a tenth of a core on a small machine.
  const BARS = 24;
  const DRAW_EVERY_MS = 1000 / 30;
  const QUIET = 0.02; // bars below this height draw as a flat line
  const barColours = new WeakMap();

  function startVisual(kind, track) {
    stopVisual(kind);
    let analyser;
    try {
      analyser = LK.createAudioAnalyser(track, {
        cloneTrack: true, fftSize: 256, smoothingTimeConstant: 0.6, minDecibels: -85, maxDecibels: -25,
      });
    } catch (err) {
      console.warn(`no ${kind} visualiser`, err);
      return;
    }
    state.visual[kind] = {
      ...analyser, bins: new Uint8Array(analyser.analyser.frequencyBinCount), track, flat: false, drawnAt: 0,
    };
    if (!state.visual.frame) state.visual.frame = requestAnimationFrame(drawVisuals);
  }

  function stopVisual(kind) {
    const current = state.visual[kind];
    state.visual[kind] = null;
    state.visual.levels[kind] = 0;
    if (current) current.cleanup().catch(() => {});
    drawBars(kind === "agent" ? el.agentViz : el.micViz, null);
  }

  function fitCanvas(canvas) {
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(canvas.clientWidth * ratio));
    const height = Math.max(1, Math.round(canvas.clientHeight * ratio));
    if (canvas.width !== width || canvas.height !== height) { canvas.width = width; canvas.height = height; }
  }

  // Bars of 0..1 heights (null: a flat line), in the canvas's CSS colour.
  function drawBars(canvas, heights) {
    fitCanvas(canvas);
    const ctx = canvas.getContext("2d");
    const { width, height } = canvas;
    ctx.clearRect(0, 0, width, height);
    if (!barColours.has(canvas)) barColours.set(canvas, getComputedStyle(canvas).color);
    ctx.fillStyle = barColours.get(canvas);
    const slot = width / BARS;
    for (let i = 0; i < BARS; i += 1) {
      const h = Math.max(2, (heights ? heights[i] : 0) * (height - 4));
      ctx.fillRect(i * slot + slot * 0.15, (height - h) / 2, slot * 0.7, h);
    }
  }

  function bandHeights(visual, muted) {
    visual.analyser.getByteFrequencyData(visual.bins);
    const useful = Math.floor(visual.bins.length * 0.6); // voice lives in the lower bins
    const per = Math.max(1, Math.floor(useful / BARS));
    const heights = [];
    for (let i = 0; i < BARS; i += 1) {
      let sum = 0;
      for (let j = 0; j < per; j += 1) sum += visual.bins[i * per + j] || 0;
      heights.push(muted ? 0 : Math.min(1, (sum / per / 255) * 1.3));
    }
    return heights;
  }

  // Redraws a meter when due: at most every DRAW_EVERY_MS, and a quiet one only once (flat).
  function redrawMeter(visual, canvas, heights, now) {
    const quiet = Math.max(...heights) < QUIET;
    if ((quiet && visual.flat) || now - visual.drawnAt < DRAW_EVERY_MS) return;
    drawBars(canvas, quiet ? null : heights);
    visual.flat = quiet;
    visual.drawnAt = now;
  }

  function drawVisuals(now) {
    state.visual.frame = 0;
    const micPub = state.room && state.room.localParticipant.getTrackPublication(LK.Track.Source.Microphone);
    for (const [kind, canvas] of [["agent", el.agentViz], ["mic", el.micViz]]) {
      const visual = state.visual[kind];
      if (!visual) continue;
      const muted = kind === "mic" && Boolean(micPub && micPub.isMuted);
      const heights = bandHeights(visual, muted);
      redrawMeter(visual, canvas, heights, now);
      const level = muted ? 0 : Math.min(1, visual.calculateVolume() * 4);
      state.visual.levels[kind] = level;
      if (kind === "mic") state.meterPeak = Math.max(state.meterPeak, level);
      if (kind === "agent") {
        state.visual.agentPeak = Math.max(state.visual.agentPeak, Math.max(...heights));
        if (Math.max(...heights) > 0.05) state.visual.agentFrames += 1; // frames that drew a moving voice
      }
    }
    if (state.visual.agent || state.visual.mic) state.visual.frame = requestAnimationFrame(drawVisuals);
  }

  // A resized canvas is blank: a quiet meter draws its flat line again on the next frame.
  function redrawQuietMeters() {
    for (const kind of ["agent", "mic"]) if (state.visual[kind]) state.visual[kind].flat = false;
  }

  function stopVisuals() {
    cancelAnimationFrame(state.visual.frame);
    state.visual.frame = 0;
    stopVisual("agent");
    stopVisual("mic");
  }

  // ---------------------------------------------------------------- session lifecycle
  function newRoom() {
    // preConnectBuffer: the microphone is recorded from the moment it starts until the agent listens, and the
    // recording is sent to the agent (LiveKit's pre-connect buffer): words said before it joined are heard.
    // channelCount 1: the agent reads a stereo recording as mono at half speed (livekit-agents 1.8), and speech
    // is mono anyway, so a stereo microphone is captured in mono.
    const room = new LK.Room({
      adaptiveStream: true,
      dynacast: true,
      audioCaptureDefaults: { channelCount: 1 },
      publishDefaults: { preConnectBuffer: true },
    });
    room
      .on(LK.RoomEvent.ParticipantConnected, (participant) => agentJoined(participant, "event"))
      .on(LK.RoomEvent.ParticipantDisconnected, agentLeft)
      .on(LK.RoomEvent.ParticipantAttributesChanged, (changed, participant) => {
        if (!state.agent || !participant || participant.identity !== state.agent.identity) return;
        if (ATTR_LETTA_AGENT in changed) switched(changed[ATTR_LETTA_AGENT]);
        applyAgentState();
      })
      .on(LK.RoomEvent.TrackSubscribed, (track, publication, participant) => {
        if (track.kind !== LK.Track.Kind.Audio) return;
        el.audio.append(track.attach());
        if (isAgent(participant)) startVisual("agent", track);
      })
      .on(LK.RoomEvent.TrackUnsubscribed, (track, publication, participant) => {
        track.detach().forEach((node) => node.remove());
        if (isAgent(participant)) stopVisual("agent");
      })
      .on(LK.RoomEvent.Reconnecting, () => setStatus("reconnecting"))
      .on(LK.RoomEvent.Reconnected, () => {
        if (state.agent) applyAgentState(); else setStatus("waiting");
      })
      .on(LK.RoomEvent.Disconnected, () => {
        if (state.room !== room) return;
        const expected = state.leaving;
        cleanup();
        setStatus(expected ? "idle" : "disconnected");
      });
    room.registerTextStreamHandler(TOPIC_TRANSCRIPTION, onTranscription);
    return room;
  }

  async function requestSession(takeover) {
    const res = await api("POST", "/api/sessions", { agent_id: state.selectedId, takeover: Boolean(takeover) });
    if (res.ok) {
      try { sessionStorage.setItem(OWN_ROOM_KEY, res.data.room); } catch (err) { /* storage off */ }
      return res.data;
    }
    let ownRoom = null;
    try { ownRoom = sessionStorage.getItem(OWN_ROOM_KEY); } catch (err) { ownRoom = null; }
    const reloaded = Boolean(res.data.room) && res.data.room === ownRoom;
    if (res.status === 409 && (res.data.yours || reloaded) && !takeover) {
      // Our own session (this tab before a reload, or the same user elsewhere): take it over.
      return requestSession(true);
    }
    if (res.status === 409) {
      const whose = res.data.room ? "another tab or device" : "another user";
      setStatus("error", `This agent is already in a session (${whose}).`);
      el.takeover.hidden = !res.data.room; // only a session we may control can be taken over
      if (!el.takeover.hidden) el.takeover.focus();
    } else {
      setStatus("error", res.data.error || `Session request failed (${res.status}).`);
    }
    return null;
  }

  async function connect(takeover) {
    if (state.room) return;
    state.timings = { connectClick: performance.now() };
    el.takeover.hidden = true;
    el.retry.hidden = true;
    el.connect.disabled = true;
    const room = newRoom();
    state.room = room;
    // Autoplay: unlock audio inside the click, before any await.
    room.startAudio().catch(() => {});
    setStatus("connecting");
    showAgentState("connecting");
    setAgentPresence("none");
    const offer = state.joinOffer;
    const session = offer || (await requestSession(takeover));
    if (!session) { cleanup(); return; }
    state.joinOffer = null;
    state.session = session;
    state.timings.sessionReady = performance.now();
    // The microphone starts with the connection, not after it: from its first moment LiveKit records it until
    // the agent listens, then sends the recording to the agent, so words said meanwhile are heard.
    const microphone = startMicrophone(room);
    try {
      await room.connect(session.url, session.token);
    } catch (err) {
      cleanup();
      microphone.finally(() => room.disconnect()); // the microphone's track stops with the room
      setStatus("error", `Could not reach the voice server (${err.message || err}).`);
      return;
    }
    if (state.room !== room) return; // disconnected meanwhile
    state.timings.roomConnected = performance.now();
    el.session.dataset.room = session.room;
    el.disconnect.disabled = false;
    setAgentPresence("waiting");
    setStatus("waiting");
    showAgentState("waiting");
    state.waitTimer = setTimeout(() => {
      state.waitTimer = null;
      if (!state.agent && state.room === room) {
        setAgentPresence("none");
        setStatus("error", "The agent did not join. Is the agent worker running?");
      }
    }, AGENT_WAIT_MS);
    checkParticipants(); // an agent that joined before us fires no ParticipantConnected
    await microphone;
    room.startAudio().catch(() => {});
  }

  async function startMicrophone(room) {
    try {
      await room.localParticipant.setMicrophoneEnabled(true);
    } catch (err) {
      if (state.room !== room) return;
      console.warn("microphone unavailable", err);
      addLine("system", `Microphone unavailable (${err.message || err}); you can type instead.`);
      return;
    }
    if (state.room !== room) return;
    el.mute.disabled = false;
    const mic = room.localParticipant.getTrackPublication(LK.Track.Source.Microphone);
    if (mic && mic.track) startVisual("mic", mic.track);
  }

  function cleanup() {
    clearTimeout(state.waitTimer);
    state.waitTimer = null;
    stopVisuals();
    el.audio.replaceChildren();
    state.room = null;
    state.agent = null;
    state.leaving = false;
    state.segments = new Map();
    delete el.session.dataset.room;
    setAgentPresence("none");
    showAgentState("off");
    el.disconnect.disabled = true;
    el.mute.disabled = true;
    el.mute.setAttribute("aria-pressed", "false");
    el.mute.textContent = "Mute microphone";
    el.textInput.disabled = true;
    el.textSend.disabled = true;
    renderSelection();
    renderSwitchOptions();
  }

  async function disconnect() {
    const room = state.room;
    const session = state.session;
    if (!room) return;
    state.leaving = true;
    await room.disconnect();
    if (state.room === room) { cleanup(); setStatus("idle"); }
    if (session) await api("DELETE", `/api/sessions/${encodeURIComponent(session.room)}`);
    state.session = null;
  }

  async function toggleMute() {
    const participant = state.room && state.room.localParticipant;
    if (!participant) return;
    const muted = el.mute.getAttribute("aria-pressed") === "true";
    await participant.setMicrophoneEnabled(muted);
    el.mute.setAttribute("aria-pressed", String(!muted));
    el.mute.textContent = muted ? "Mute microphone" : "Unmute microphone";
  }

  async function sendText(event) {
    event.preventDefault();
    const text = el.textInput.value.trim();
    if (!text || !state.room || !state.agent) return;
    el.textInput.value = "";
    addLine("user", text);
    try {
      await state.room.localParticipant.sendText(text, { topic: TOPIC_CHAT });
    } catch (err) {
      addLine("system", `Could not send: ${err.message || err}`);
    }
  }

  async function switchAgent(event) {
    event.preventDefault();
    const id = el.switchSelect.value;
    if (!id || !state.room || !state.agent) return;
    await state.room.localParticipant.sendText(JSON.stringify({ letta_agent_id: id }), { topic: TOPIC_SWITCH });
    addLine("system", `Asked to switch to ${agentName(id)}…`);
  }

  // The agent confirms a switch by changing its lvs.letta_agent_id attribute.
  function switched(id) {
    if (!id || !state.session || id === state.session.agent_id) return;
    state.session.agent_id = id;
    state.selectedId = id;
    addLine("system", `Now talking to ${agentName(id)}.`);
    renderAgents();
  }

  // A session handed over in the URL fragment (#join=<JSON>), e.g. created by a script or test:
  // the fragment never reaches the server and is cleared from the address bar at once.
  function readJoinOffer() {
    const match = /^#join=(.+)$/.exec(window.location.hash);
    if (!match) return;
    history.replaceState(null, "", window.location.pathname + window.location.search);
    try {
      const offer = JSON.parse(decodeURIComponent(match[1]));
      if (offer.url && offer.token && offer.room) {
        state.joinOffer = offer;
        if (offer.agent_id) state.selectedId = offer.agent_id; // Retry then starts a fresh session
      }
    } catch (err) {
      console.warn("bad join link", err);
    }
  }

  function retry() {
    if (state.room) {
      state.leaving = true;
      state.room.disconnect().finally(() => connect(true));
    } else {
      connect(true);
    }
  }

  // ---------------------------------------------------------------- wiring
  function init() {
    if (!LK) {
      setStatus("error", "livekit-client is missing: run scripts/install-web-assets.sh.");
      return;
    }
    readJoinOffer();
    el.search.addEventListener("input", renderAgents);
    el.refresh.addEventListener("click", loadAgents);
    el.createForm.addEventListener("submit", createAgent);
    el.connect.addEventListener("click", () => connect(false));
    el.disconnect.addEventListener("click", disconnect);
    el.mute.addEventListener("click", toggleMute);
    el.textForm.addEventListener("submit", sendText);
    el.switchForm.addEventListener("submit", switchAgent);
    el.retry.addEventListener("click", retry);
    el.takeover.addEventListener("click", () => connect(true));
    el.loginForm.addEventListener("submit", login);
    el.logout.addEventListener("click", logout);
    window.addEventListener("resize", redrawQuietMeters);
    window.addEventListener("pagehide", () => {
      if (state.session && state.room) {
        fetch(`/api/sessions/${encodeURIComponent(state.session.room)}`, { method: "DELETE", keepalive: true });
      }
    });
    start();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
