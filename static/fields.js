// The submit form's rules, the same as the server's (src/tickets/fields.rs):
// trimmed, 1 to N characters (code points), no control character other than
// newline and tab. A comment's body follows the description's rules, up to
// COMMENT_MAX characters. (The server also refuses invisible formatting
// characters; its message is shown when it does.)

export const LIMITS = { description: 5000, system: 100, requester: 100 };
export const COMMENT_MAX = 10000;

const LABELS = { description: "Description", system: "System", requester: "Requester" };
// Unicode Cc, as Rust's char::is_control, minus \t (09) and \n (0A).
const CONTROL = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F]/u;

/** Code points, as the server counts. */
export function length(text) {
  let n = 0;
  for (const _ of text) n += 1;
  return n;
}

/** The problem with one field's value, or "" when it is acceptable. */
export function check(field, raw) {
  return checkText(LABELS[field], raw, LIMITS[field]);
}

/** The problem with a text named `label` of at most `max` characters, or "". */
export function checkText(label, raw, max) {
  const text = raw.trim();
  if (text === "") return `${label} is required.`;
  if (CONTROL.test(text)) return `${label} contains a control character; only line breaks and tabs are allowed.`;
  const n = length(text);
  if (n > max) return `${label} is too long: ${n} characters, at most ${max}.`;
  return "";
}

/** The field a server error message is about ("system must not be empty" -> "system"). */
export function fieldOf(message) {
  const first = String(message).split(/\s/, 1)[0];
  return Object.hasOwn(LIMITS, first) ? first : null;
}
