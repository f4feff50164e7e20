// Renders app-role.sql into single statements (the RDS Data API runs one per call). Shared by
// the migration handler and .ci/app-role.sh, so the test runs exactly what production runs.
const fs = require('fs');
const path = require('path');

const TEMPLATE = fs.readFileSync(path.join(__dirname, 'app-role.sql'), 'utf8');

/** A PostgreSQL role name this app creates: lower-case, unquoted-identifier safe. */
const ROLE = /^[a-z_][a-z0-9_]{0,62}$/;

function literal(s) {
  return `'${String(s).replace(/'/g, "''")}'`;
}

/** Splits on `;` at the end of a line, outside dollar-quoted bodies; drops comments and blanks. */
function split(sql) {
  const statements = [];
  let current = [];
  let quote = null;
  for (const line of sql.split('\n')) {
    if (quote === null && (line.trim() === '' || line.trim().startsWith('--'))) continue;
    current.push(line);
    for (const m of line.matchAll(/\$[a-z_]*\$/g)) quote = quote === null ? m[0] : quote === m[0] ? null : quote;
    if (quote === null && line.trimEnd().endsWith(';')) {
      statements.push(current.join('\n').trim());
      current = [];
    }
  }
  if (current.length > 0) throw new Error('app-role.sql: the last statement has no terminating `;`');
  return statements;
}

function appRoleStatements(role, password) {
  if (!ROLE.test(role)) throw new Error(`not a plain role name: ${role}`);
  if (typeof password !== 'string' || password.length < 16) throw new Error('the application role needs a generated password');
  const rendered = TEMPLATE.replace(/\{\{role\}\}/g, role).replace(/\{\{password\}\}/g, () => literal(password));
  return split(rendered);
}

module.exports = { appRoleStatements, split, TEMPLATE };
