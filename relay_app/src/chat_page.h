// The page GET / serves: a small chat client for WS /connect, with no build
// step and nothing fetched from elsewhere (spec/relay.md, "Browser page").
// Element ids are what the browser test drives: #channel, #password, #join,
// #text, #send, #status, #messages.
#pragma once

#include <string_view>

namespace chorus::relay {

inline constexpr std::string_view kChatPage = R"PAGE(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Chorus relay chat</title>
<link rel="icon" href="data:,">
<style>
  body { font: 15px/1.4 system-ui, sans-serif; margin: 0; background: #f4f5f7; color: #1d2430; }
  main { max-width: 40rem; margin: 2rem auto; background: #fff; border-radius: 8px;
         box-shadow: 0 1px 4px rgba(0,0,0,.12); padding: 1.25rem; }
  h1 { font-size: 1.2rem; margin: 0 0 .75rem; }
  form { display: flex; gap: .5rem; margin: .5rem 0; }
  input { flex: 1; padding: .4rem .5rem; border: 1px solid #c5cad3; border-radius: 4px; }
  button { padding: .4rem .9rem; border: 0; border-radius: 4px; background: #2f6fdb; color: #fff; }
  button:disabled { background: #9db5e4; }
  #status { font-size: .85rem; color: #5b6472; min-height: 1.2em; }
  #status.error { color: #b3261e; }
  #messages { list-style: none; padding: 0; margin: .75rem 0 0; max-height: 55vh; overflow-y: auto; }
  #messages li { padding: .3rem .5rem; border-bottom: 1px solid #eef0f3; }
  #messages li.mine { color: #2f6fdb; }
  #messages li.note { color: #8a5a00; font-style: italic; }
</style>
</head>
<body>
<main>
  <h1>Chorus relay chat</h1>
  <form id="join-form">
    <input id="channel" placeholder="channel" required maxlength="128" autocomplete="off">
    <input id="password" type="password" placeholder="password (optional)" autocomplete="off">
    <button id="join" type="submit" disabled>Join</button>
  </form>
  <form id="send-form">
    <input id="text" placeholder="message" autocomplete="off" disabled>
    <button id="send" type="submit" disabled>Send</button>
  </form>
  <div id="status">connecting…</div>
  <ul id="messages"></ul>
</main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/connect";
const waiting = new Map();
let nonce = 0;
let channel = null;
let socket = null;

function note(text, cls) {
  const li = document.createElement("li");
  li.textContent = text;
  if (cls) li.className = cls;
  $("messages").appendChild(li);
  $("messages").scrollTop = $("messages").scrollHeight;
}

function show(text, error) {
  $("status").textContent = text;
  $("status").className = error ? "error" : "";
}

function request(command, data) {
  return new Promise((resolve) => {
    if (!socket || socket.readyState !== WebSocket.OPEN) return resolve({ ok: false, reason: "not connected" });
    const n = String(++nonce);
    waiting.set(n, resolve);
    socket.send(JSON.stringify({ command, data, nonce: n }));
  });
}

function connect() {
  socket = new WebSocket(url);
  socket.onopen = () => {
    show("connected to " + location.host);
    $("join").disabled = false;
  };
  socket.onmessage = (event) => {
    let frame;
    try { frame = JSON.parse(event.data); } catch (e) { return; }
    if (frame.type === "response" && waiting.has(String(frame.nonce))) {
      const resolve = waiting.get(String(frame.nonce));
      waiting.delete(String(frame.nonce));
      resolve(frame.data);
    } else if (frame.type === "message" && frame.data) {
      const m = frame.data.message;
      note(typeof m === "string" ? m : JSON.stringify(m));
    }
  };
  socket.onclose = (event) => {
    // Answers that will never come: settle them so their forms unblock.
    for (const resolve of waiting.values()) resolve({ ok: false, reason: "disconnected" });
    waiting.clear();
    show("disconnected (" + event.code + (event.reason ? ": " + event.reason : "") +
      "), reconnecting…", true);
    $("join").disabled = true;
    $("text").disabled = $("send").disabled = true;
    channel = null;
    setTimeout(connect, 1000);
  };
}

$("join-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const topic = $("channel").value.trim();
  if (!topic) return;
  const data = { topic };
  if ($("password").value) data.password = $("password").value;
  // A first join can take seconds (the channel is looked up or reserved).
  $("join").disabled = true;
  show("joining #" + topic + "…");
  if (channel && channel !== topic) {
    await request("unsubscribe", { topic: channel });
    channel = null;
    $("text").disabled = $("send").disabled = true;
  }
  const answer = await request("subscribe", data);
  $("join").disabled = socket.readyState !== WebSocket.OPEN;
  if (answer.ok) {
    channel = topic;
    show("in #" + topic);
    $("text").disabled = $("send").disabled = false;
    $("text").focus();
  } else {
    show("could not join #" + topic + ": " + answer.reason, true);
  }
});

$("send-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = $("text").value;
  if (!text || !channel) return;
  $("text").value = "";
  const answer = await request("send", { channel, message: text });
  if (answer.ok) note(text, "mine");
  else note("not sent: " + answer.reason, "note");
});

connect();
</script>
</body>
</html>
)PAGE";

}  // namespace chorus::relay
