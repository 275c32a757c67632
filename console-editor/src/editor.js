// The flow editor of the staff console: turns the page's <textarea data-flow-editor> into a
// CodeMirror editor with YAML highlighting that checks the draft as the clerk types, with the
// same compiler and hints as `civictext flows check` (the console's check endpoint), and marks
// each problem at its line. The textarea stays the form field: it is kept equal to the editor,
// so Check, Run tests, Publish and Try in simulator post what is on screen, as without script.
//
// The editor lives in a shadow root: CodeMirror then styles itself with constructed style
// sheets, which the console's Content-Security-Policy (no inline styles) lets through, where
// the <style> element it would add to the document is refused.
import { EditorView, basicSetup } from 'codemirror';
import { yaml } from '@codemirror/lang-yaml';
import { linter, lintGutter, forceLinting } from '@codemirror/lint';

function problemText(d) {
  const at = d.line > 0 ? `line ${d.line}, column ${d.column}: ` : '';
  return `${at}${d.severity}: ${d.message}`;
}

// Draws the list of problems under the editor (the same markup the server draws).
function showProblems(section, result, view) {
  const summary = section.querySelector('[data-problem-summary]');
  const list = section.querySelector('[data-problem-list]');
  summary.textContent = result.summary;
  list.replaceChildren();
  for (const d of result.diagnostics) {
    const li = document.createElement('li');
    li.className = `problem ${d.severity}`;
    li.dataset.line = String(d.line);
    const go = document.createElement('button');
    go.type = 'button';
    go.className = 'link';
    go.textContent = problemText(d);
    go.addEventListener('click', () => {
      if (d.line < 1 || d.line > view.state.doc.lines) return;
      const line = view.state.doc.line(d.line);
      const pos = Math.min(line.from + Math.max(d.column - 1, 0), line.to);
      view.dispatch({ selection: { anchor: pos }, scrollIntoView: true });
      view.focus();
    });
    li.append(go);
    if (d.hint) {
      const hint = document.createElement('span');
      hint.className = 'hint';
      hint.textContent = ` Fix: ${d.hint}`;
      li.append(hint);
    }
    list.append(li);
  }
}

// The range a problem is marked on: from its column to the end of its line (the whole first
// line when the place is unknown).
function range(doc, d) {
  const n = Math.min(Math.max(d.line, 1), doc.lines);
  const line = doc.line(n);
  const from = d.line > 0 ? Math.min(line.from + Math.max(d.column - 1, 0), line.to) : line.from;
  return { from, to: Math.max(line.to, from) };
}

// The console's look: its border, focus ring, contrast of line numbers and monospace font.
const theme = EditorView.theme({
  '&': { border: '1px solid #6b7684', borderRadius: '3px', fontSize: '0.9rem', background: '#fff' },
  '&.cm-focused': { outline: '3px solid #f2b600', outlineOffset: '2px' },
  // As tall as the flow, lines wrapped: the page scrolls, not a box inside it (a scrolling box
  // would be one more thing to reach by keyboard).
  '.cm-scroller': { fontFamily: 'ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace' },
  '.cm-gutters': { color: '#4a5360' },
});

function setUp(area) {
  const form = area.form;
  const checkUrl = area.dataset.checkUrl;
  const csrf = form.querySelector('input[name="csrf"]').value;
  const section = document.getElementById(area.dataset.problems);
  const label = document.querySelector(`label[for="${area.id}"]`);

  const check = linter(async (view) => {
    const source = view.state.doc.toString();
    const body = new URLSearchParams({ csrf, source });
    let result;
    try {
      const resp = await fetch(checkUrl, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
        body,
        credentials: 'same-origin',
      });
      if (resp.status === 400 || resp.status === 413) {
        result = { summary: 'This draft is too large to check here: flows must be under 48 KB.', diagnostics: [] };
      } else if (!resp.ok) {
        result = { summary: `The draft could not be checked (the console answered ${resp.status}). Use the Check button.`, diagnostics: [] };
      } else {
        result = await resp.json();
      }
    } catch (e) {
      result = { summary: 'The draft could not be checked: the console did not answer. Use the Check button.', diagnostics: [] };
    }
    // A newer edit was made while this one was being checked: its own check will follow.
    if (view.state.doc.toString() !== source) return [];
    showProblems(section, result, view);
    return result.diagnostics.map((d) => ({
      ...range(view.state.doc, d),
      severity: d.severity === 'error' ? 'error' : 'warning',
      message: d.hint ? `${d.message}\nFix: ${d.hint}` : d.message,
    }));
  }, { delay: 400 });

  const host = document.createElement('div');
  host.className = 'flow-editor';
  area.after(host);
  const shadow = host.attachShadow({ mode: 'open' });
  const view = new EditorView({
    doc: area.value,
    root: shadow,
    parent: shadow,
    extensions: [
      basicSetup,
      yaml(),
      lintGutter(),
      check,
      EditorView.lineWrapping,
      theme,
      EditorView.contentAttributes.of({
        'aria-label': label ? label.textContent.trim() : 'Flow source',
      }),
      EditorView.updateListener.of((u) => {
        if (u.docChanged) area.value = u.state.doc.toString();
      }),
    ],
  });
  area.hidden = true;
  if (label) {
    label.addEventListener('click', () => view.focus());
  }
  form.addEventListener('submit', () => {
    area.value = view.state.doc.toString();
  });
  forceLinting(view);
}

for (const area of document.querySelectorAll('textarea[data-flow-editor]')) {
  setUp(area);
}
