/**
 * The account part of LTSP's image cleanup, in TypeScript instead of LTSP's
 * `pwmerge --ltsp` with an empty source: drop every normal account (UID in
 * UID_MIN..UID_MAX of login.defs) and every normal group (GID in GID_MIN..GID_MAX) that
 * is left without members, and remove the dropped users from the member lists of the
 * groups that stay. System accounts and groups keep their lines byte for byte, shadow
 * hashes included (ltsp-behaviour.md §2.4). Clients get the users later from ltsp.img.
 * Pure: text in, text out.
 */

export interface LoginDefs {
  uidMin: number;
  uidMax: number;
  gidMin: number;
  gidMax: number;
}

export const DEFAULT_LOGIN_DEFS: LoginDefs = { uidMin: 1000, uidMax: 60000, gidMin: 1000, gidMax: 60000 };

/** UID_MIN/UID_MAX/GID_MIN/GID_MAX from login.defs text; missing keys keep the defaults. */
export function parseLoginDefs(text: string): LoginDefs {
  const d = { ...DEFAULT_LOGIN_DEFS };
  const keys: Record<string, keyof LoginDefs> = { UID_MIN: 'uidMin', UID_MAX: 'uidMax', GID_MIN: 'gidMin', GID_MAX: 'gidMax' };
  for (const line of text.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    const key = k ? keys[k] : undefined;
    if (key && v !== undefined && /^\d+$/.test(v)) d[key] = Number(v);
  }
  return d;
}

export interface AccountFiles {
  passwd: string;
  group: string;
  shadow?: string;
  gshadow?: string;
}

export interface AccountCleanup {
  files: AccountFiles;
  removedUsers: string[];
  removedGroups: string[];
}

function lines(text: string): string[] {
  const l = text.split('\n');
  if (l.length > 0 && l[l.length - 1] === '') l.pop();
  return l;
}

function join(l: string[]): string {
  return l.length ? `${l.join('\n')}\n` : '';
}

/** Keep a line unless its first field is in `drop`; comments and blank lines stay. */
function filterByName(text: string, drop: Set<string>): string[] {
  return lines(text).filter((l) => !drop.has(l.split(':', 1)[0] ?? ''));
}

/** Remove dropped users from a comma-separated member list field, keeping the rest as is. */
function stripMembers(field: string, dropUsers: Set<string>): string {
  if (field === '') return field;
  const kept = field.split(',').filter((m) => !dropUsers.has(m));
  return kept.join(',');
}

export function removeNormalAccounts(files: AccountFiles, defs: LoginDefs = DEFAULT_LOGIN_DEFS): AccountCleanup {
  const inUid = (n: number) => n >= defs.uidMin && n <= defs.uidMax;
  const inGid = (n: number) => n >= defs.gidMin && n <= defs.gidMax;

  const dropUsers = new Set<string>();
  const keptPrimaryGids = new Set<number>();
  for (const l of lines(files.passwd)) {
    const f = l.split(':');
    if (f.length < 7) continue; // malformed lines are left alone
    const uid = Number(f[2]);
    if (/^\d+$/.test(f[2] ?? '') && inUid(uid)) dropUsers.add(f[0]!);
    else if (/^\d+$/.test(f[3] ?? '')) keptPrimaryGids.add(Number(f[3]));
  }

  const dropGroups = new Set<string>();
  const groupOut: string[] = [];
  for (const l of lines(files.group)) {
    const f = l.split(':');
    if (f.length !== 4 || !/^\d+$/.test(f[2] ?? '')) {
      groupOut.push(l);
      continue;
    }
    const gid = Number(f[2]);
    const members = stripMembers(f[3]!, dropUsers);
    if (inGid(gid) && members === '' && !keptPrimaryGids.has(gid)) {
      dropGroups.add(f[0]!);
      continue;
    }
    groupOut.push(members === f[3] ? l : [f[0], f[1], f[2], members].join(':'));
  }

  const out: AccountFiles = {
    passwd: join(filterByName(files.passwd, dropUsers)),
    group: join(groupOut),
  };
  if (files.shadow !== undefined) out.shadow = join(filterByName(files.shadow, dropUsers));
  if (files.gshadow !== undefined) {
    out.gshadow = join(
      filterByName(files.gshadow, dropGroups).map((l) => {
        const f = l.split(':');
        if (f.length !== 4) return l;
        const admins = stripMembers(f[2]!, dropUsers);
        const members = stripMembers(f[3]!, dropUsers);
        return admins === f[2] && members === f[3] ? l : [f[0], f[1], admins, members].join(':');
      }),
    );
  }
  return { files: out, removedUsers: [...dropUsers], removedGroups: [...dropGroups] };
}
