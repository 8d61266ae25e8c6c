// The login form: a user name and password, or a token; either opens the same cookie session.
const next = () => {
  const wanted = document.querySelector('meta[name="kafkaban-next"]').content || "/executions";
  // only a path of this site: never "//elsewhere" or a scheme, so the form cannot send anyone off-site
  return /^\/(?![\/\\])/.test(wanted) ? wanted : "/executions";
};

function show(text) {
  const box = document.getElementById("messages");
  const el = document.createElement("div");
  el.className = "message";
  el.textContent = text;
  box.replaceChildren(el);
}

async function login(body) {
  let response;
  try {
    response = await fetch("/api/v1/login", { method: "POST", headers: { "Content-Type": "application/json" },
                                              body: JSON.stringify(body), credentials: "same-origin" });
  } catch (error) {
    show(`cannot reach the Kafkaban API: ${error.message}`);
    return;
  }
  if (response.ok) {
    window.location.assign(next());
    return;
  }
  let message = `${response.status} ${response.statusText}`;
  try { message = (await response.json()).error.message; } catch { /* the status line says enough */ }
  show(message);
}

for (const [id, fields] of [["password-login", ["username", "password"]], ["token-login", ["token"]]]) {
  const form = document.getElementById(id);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(form);
    login(Object.fromEntries(fields.map((f) => [f, String(data.get(f) || "")])));
  });
}
