/** The two HTML shells; everything live is drawn by the bundled script (no inline code: see the CSP). */

export function loginPage(error?: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>scaleout dashboard: log in</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body>
<h1>scaleout dashboard</h1>
<form method="post" action="/dashboard/login">
<p><label>Control token (<code>token</code> in <code>.scaleout/supervisor.json</code>)<br>
<input type="password" name="token" id="token" autocomplete="off" size="40" required autofocus></label></p>
${error === undefined ? '' : `<p id="login-error" role="alert">${escapeHtml(error)}</p>`}
<p><button type="submit" id="login">Log in</button></p>
</form>
</body></html>
`;
}

export function appPage(): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>scaleout dashboard</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/dashboard/app.css">
<script type="module" src="/dashboard/app.js"></script></head>
<body>
<header><h1>scaleout</h1><span id="summary"></span>
<span id="live" class="live">connecting…</span>
<form method="post" action="/dashboard/logout"><button type="submit">Log out</button></form></header>
<main>
<section id="topology-panel"><h2>Topology</h2><div id="topology"></div>
<h3>Nodes</h3><div id="nodes"></div><div id="db"></div></section>
<section id="controls"><h2>Operations</h2>
<p><label>Scale role <select id="scale-role"><option value="app">app</option></select></label>
<input id="scale-count" type="number" min="0" max="64" value="2"> <button id="scale">Scale</button>
<button id="deploy">Deploy</button></p>
<p id="selected">Select a node to kill, restart or drain it.</p>
<p><button id="kill" disabled>Kill (SIGKILL)</button> <button id="restart" disabled>Restart</button> <button id="drain" disabled>Drain</button></p>
<p id="action-result" role="status"></p>
<h3>Chaos</h3>
<p><button id="chaos-stop" disabled>Stop (SIGSTOP)</button> <button id="chaos-partition" disabled>Partition</button>
<button id="chaos-slow" disabled>Slow</button> <label><input id="chaos-slow-ms" type="number" min="1" max="60000" value="200"> ms</label>
<button id="chaos-heal">Heal all</button></p>
<ul id="faults"></ul>
<h3>Load</h3>
<p><label>Scenario <select id="load-scenario"><option>browse</option><option>buy</option><option>mixed</option></select></label>
<label><input id="load-rps" type="number" min="1" max="200" value="50"> req/s</label>
<label><input id="load-duration" type="number" min="1" max="60" value="10"> s</label>
<button id="load-start">Start a load</button></p>
<p id="load-status" role="status">no load run yet</p>
</section>
<section id="queues-panel"><h2>Queues</h2><div id="queues"><p>no worker queues configured</p></div></section>
<section id="events-panel"><h2>Events</h2><ol id="events" reversed></ol></section>
</main>
</body></html>
`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
