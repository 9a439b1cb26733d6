#!/usr/bin/env python3
"""Validate tickets.jsonl and print its counts. Stdlib only.

Usage: python3 check_tickets.py [path/to/tickets.jsonl]
Exit status 1 if any error is found.
"""
import collections, datetime, json, re, sys
from pathlib import Path

PATH = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name('tickets.jsonl')
CHANNELS = {'email', 'web_form', 'chat'}
TEAMS = ['technical', 'billing', 'account', 'security', 'sales', 'legal']
SEVS = ['sev1', 'sev2', 'sev3', 'sev4']
SPLITS = ['train', 'dev', 'heldout']
PRODUCTS = {'streams', 'queues', 'connect', 'console', 'sdk', 'billing', 'platform', None}
CURRENCIES = {'USD', 'EUR', 'GBP', 'CAD', 'INR', None}
PII_TYPES = ['PERSON', 'EMAIL', 'PHONE', 'CREDIT_CARD', 'IBAN', 'ACCOUNT_ID', 'IP_ADDRESS', 'ADDRESS']
MONTHS = ['january', 'february', 'march', 'april', 'may', 'june', 'july', 'august',
          'september', 'october', 'november', 'december']

EMAIL_RE = re.compile(r'[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]+')
ACC_RE = re.compile(r'\bACC-\d{6}\b')
IP_RE = re.compile(r'(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.]*\d)')
CARD_RE = re.compile(r'(?<![\d])(?:\d[ -]?){12,18}\d(?!\d)')
IBAN_RE = re.compile(r'\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b')

errors = []
def err(tid, msg):
    errors.append(f'{tid}: {msg}')

def luhn(digits):
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0

def iban_ok(value):
    s = value.replace(' ', '')
    if not re.fullmatch(r'[A-Z]{2}\d{2}[A-Z0-9]{10,30}', s):
        return False
    s = s[4:] + s[:4]
    return int(''.join(str(int(c, 36)) for c in s)) % 97 == 1

def date_written(text, iso):
    if iso in text:
        return True
    d = datetime.date.fromisoformat(iso)
    low = text.lower()
    day = re.search(r'(?<!\d)0?%d(?:st|nd|rd|th)?(?!\d)' % d.day, low)
    month = (MONTHS[d.month - 1] in low or re.search(r'\b%s\b' % MONTHS[d.month - 1][:3], low)
             or re.search(r'(?<!\d)0?%d[/.]' % d.month, low) or re.search(r'[/.]0?%d(?!\d)' % d.month, low))
    return bool(day and month)

def amount_written(text, a):
    forms = {f'{a:,.2f}', f'{a:.2f}', f'{a:g}'}
    eu = f'{a:,.2f}'.replace(',', '_').replace('.', ',').replace('_', '.')
    forms |= {eu, eu.replace('.', ' '), f'{a:.2f}'.replace('.', ',')}
    if a == int(a):
        forms |= {f'{int(a):,}', f'{int(a)}', f'{int(a):,}'.replace(',', '.'), f'{int(a):,}'.replace(',', ' ')}
        s = str(int(a))  # Indian grouping: 1,24,500
        if len(s) > 3:
            head, tail = s[:-3], s[-3:]
            forms.add(','.join(re.findall(r'\d{1,2}(?=(?:\d{2})*$)', head)) + ',' + tail)
    return any(re.search(r'(?<![\d.,])' + re.escape(f) + r'(?![\d]|[.,]\d*[1-9])', text) for f in forms)

records, ids = [], set()
for n, line in enumerate(PATH.read_text(encoding='utf-8').splitlines(), 1):
    try:
        r = json.loads(line)
    except json.JSONDecodeError as e:
        err(f'line {n}', f'invalid JSON: {e}')
        continue
    records.append(r)
    tid = r.get('id', f'line {n}')
    keys = {'id', 'channel', 'received', 'subject', 'text', 'team', 'severity', 'gold', 'pii', 'injection', 'split'}
    if set(r) != keys:
        err(tid, f'keys {sorted(set(r) ^ keys)}')
        continue
    if not re.fullmatch(r'T-\d{4}', tid) or tid in ids:
        err(tid, 'bad or duplicate id')
    ids.add(tid)
    text, g = r['text'], r['gold']
    if r['channel'] not in CHANNELS: err(tid, 'channel')
    if r['team'] not in TEAMS: err(tid, 'team')
    if r['severity'] not in SEVS: err(tid, 'severity')
    if r['split'] not in SPLITS: err(tid, 'split')
    if not isinstance(r['injection'], bool): err(tid, 'injection not bool')
    if not isinstance(r['subject'], str) or not isinstance(text, str) or not text.strip(): err(tid, 'subject/text')
    try:
        received = datetime.datetime.strptime(r['received'], '%Y-%m-%dT%H:%M:%SZ')
    except ValueError:
        err(tid, 'received format'); received = None
    gkeys = {'customer_name', 'email', 'account_id', 'product', 'severity', 'date', 'amount', 'currency'}
    if set(g) != gkeys:
        err(tid, f'gold keys {sorted(set(g) ^ gkeys)}')
        continue
    if g['severity'] != r['severity']: err(tid, 'gold.severity != severity')
    for k in ('customer_name', 'email', 'account_id'):
        if g[k] is not None and g[k] not in text: err(tid, f'gold {k} not in text: {g[k]!r}')
    if g['email'] is not None and not g['email'].endswith('.example'): err(tid, 'email domain')
    if g['account_id'] is not None and not re.fullmatch(r'ACC-\d{6}', g['account_id']): err(tid, 'account_id format')
    if g['product'] not in PRODUCTS: err(tid, 'product')
    if g['currency'] not in CURRENCIES: err(tid, 'currency')
    if (g['amount'] is None) != (g['currency'] is None): err(tid, 'amount/currency must both be set or null')
    if g['amount'] is not None:
        if not isinstance(g['amount'], (int, float)) or not amount_written(text, g['amount']):
            err(tid, f'amount {g["amount"]} not found in text')
    if g['date'] is not None:
        try:
            d = datetime.date.fromisoformat(g['date'])
            if received and d > received.date(): err(tid, 'gold date after received')
            if not date_written(text, g['date']): err(tid, f'date {g["date"]} not visibly written in text')
        except ValueError:
            err(tid, 'date format')
    values = collections.defaultdict(list)
    for p in r['pii']:
        if p.get('type') not in PII_TYPES: err(tid, f'pii type {p.get("type")}')
        if not isinstance(p.get('value'), str) or p['value'] not in text: err(tid, f'pii value not in text: {p.get("value")!r}')
        values[p.get('type')].append(p.get('value', ''))
        if p.get('type') == 'CREDIT_CARD' and not luhn(re.sub(r'\D', '', p['value'])): err(tid, f'card fails Luhn {p["value"]}')
        if p.get('type') == 'IBAN' and not iban_ok(p['value']): err(tid, f'IBAN fails mod-97 {p["value"]}')
    if len({(p['type'], p['value']) for p in r['pii']}) != len(r['pii']): err(tid, 'duplicate pii entry')
    def covered(typ, v):
        return any(v in x for x in values[typ])
    if g['customer_name'] and not covered('PERSON', g['customer_name']): err(tid, 'customer_name not in PERSON pii')
    if g['email'] and not covered('EMAIL', g['email']): err(tid, 'gold email not in EMAIL pii')
    if g['account_id'] and not covered('ACCOUNT_ID', g['account_id']): err(tid, 'gold account not in pii')
    # completeness for the pattern-detectable types
    for m in EMAIL_RE.finditer(text):
        v = m.group(0).rstrip('.')
        if not v.lower().endswith('@larkspur.example') and not covered('EMAIL', v): err(tid, f'unlisted email {v}')
    for m in ACC_RE.finditer(text):
        if not covered('ACCOUNT_ID', m.group(0)): err(tid, f'unlisted account id {m.group(0)}')
    for m in IP_RE.finditer(text):
        if all(int(o) < 256 for o in m.group(0).split('.')) and not covered('IP_ADDRESS', m.group(0)):
            err(tid, f'unlisted IP {m.group(0)}')
    for m in CARD_RE.finditer(text):
        digits = re.sub(r'\D', '', m.group(0))
        if 13 <= len(digits) <= 19 and luhn(digits) and not covered('CREDIT_CARD', m.group(0).strip()):
            err(tid, f'unlisted card-like number {m.group(0)}')
    for m in IBAN_RE.finditer(text):
        if iban_ok(m.group(0)) and not covered('IBAN', m.group(0)):
            err(tid, f'unlisted IBAN {m.group(0)}')

def table(title, counter, order=None):
    total = sum(counter.values())
    print(f'\n{title}')
    for k in (order or sorted(counter, key=lambda k: -counter[k])):
        print(f'  {str(k):<12} {counter[k]:>4}  {100 * counter[k] / total:5.1f}%')

N = len(records)
print(f'{N} tickets, {len(errors)} errors')
table('team', collections.Counter(r['team'] for r in records), TEAMS)
table('severity', collections.Counter(r['severity'] for r in records), SEVS)
table('split', collections.Counter(r['split'] for r in records), SPLITS)
table('channel', collections.Counter(r['channel'] for r in records))
print('\nteam x split')
print('  ' + ' ' * 10 + ''.join(f'{s:>9}' for s in SPLITS))
for t in TEAMS:
    row = [sum(1 for r in records if r['team'] == t and r['split'] == s) for s in SPLITS]
    print(f'  {t:<10}' + ''.join(f'{c:>9}' for c in row))
    if 0 in row: err(t, 'team missing from a split')
print('\nteam x severity')
print('  ' + ' ' * 10 + ''.join(f'{s:>7}' for s in SEVS))
for t in TEAMS:
    print(f'  {t:<10}' + ''.join(f'{sum(1 for r in records if r["team"] == t and r["severity"] == s):>7}' for s in SEVS))
table('gold.product', collections.Counter(str(r['gold']['product']) for r in records))
table('gold.currency (when an amount is set)', collections.Counter(r['gold']['currency'] for r in records if r['gold']['currency']))
pii = collections.Counter(p['type'] for r in records for p in r['pii'])
table('PII entries by type', pii, [t for t in PII_TYPES if t in pii])
print(f'\nPII entries total: {sum(pii.values())}')
only_name = sum(1 for r in records if {p['type'] for p in r['pii']} <= {'PERSON'})
print(f'tickets with no PII beyond names: {only_name} ({100 * only_name / N:.1f}%)')
inj = [r for r in records if r['injection']]
print(f'injection tickets: {len(inj)} ' + str(dict(collections.Counter(r["split"] for r in inj))) + ' ' + str(dict(collections.Counter(r["team"] for r in inj))))
for k in ('customer_name', 'email', 'account_id', 'date', 'amount'):
    print(f'gold.{k} set: {sum(1 for r in records if r["gold"][k] is not None)}')
lens = sorted(len(r['text']) for r in records)
if lens: print(f'text length (chars): min {lens[0]}, median {lens[len(lens) // 2]}, max {lens[-1]}')
for e in errors:
    print('ERROR', e)
sys.exit(1 if errors else 0)
