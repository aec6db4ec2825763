#!/usr/bin/env python3
"""Deterministic directory data for bench/directory: the SAME people for pbx365 and slapd.

Usage: gen.py ENTRIES STORE.db LDIF QUERIES_DIR   (STORE.db and LDIF "-": the queries only)

- writes ENTRIES org contacts (company directory) with their numbers straight into the pbx365
  SQLite store STORE.db, which `pbx365` has created (migrations run, site row present);
- writes the same people as inetOrgPerson entries to LDIF (for `slapadd -q`);
- writes the query sets to QUERIES_DIR, one `filter<TAB>expected hits` a line:
  name.pbx365 / name.slapd (Yealink-style `(|(cn=P*)(sn=P*))`, the 200 prefixes of the data
  whose hit counts, counted here, are nearest 50 — 40..60 at a million entries), number.pbx365 (national form `030 …`, which pbx365
  matches number-aware) and number.slapd (the stored form `+49 30 …`; telephoneNumberMatch
  ignores spaces), and urls.txt (the same numbers for `/lookup`).
Names are ASCII only so that both servers' case folding agrees.
"""
import json
import random
import sqlite3
import sys

GIVEN = """Anna Ben Clara David Emma Felix Greta Hannah Ida Jonas Karl Lena Maria Noah Olga Paul
Quentin Rosa Sophie Tom Ute Vera Walter Xenia Yusuf Zoe Adam Bianca Carlos Diana Erik Fatima
Georg Helga Ivan Julia Kevin Laura Mehmet Nina Oskar Petra Rainer Sabine Thomas Ulrich Valentin
Wiebke Aylin Boris Chiara Dennis Elif Frank Gisela Henrik Ines Jan Katrin Lukas Mia Niklas Ole
Pia Robert Sarah Tim Uwe Viktor Anke Bernd Christian Dirk Elke Florian Gabriele Heinz Irina
Jens Klaus Lisa Marco Nadine Otto Peter Ralf Stefan Tanja Werner Yvonne Alexander Birgit Cem
Dominik Emil Franziska Gerhard Hans Isabel Jakob Karin Leon Monika Nele Philipp Renate Simon
Theo""".split()

# Surnames from syllables: a large vocabulary (tens of thousands), like a real country's.
HEADS = """Ab Ach Al Alt Am An Ar Bach Bau Beck Berg Bie Bir Blu Bo Bra Brei Bro Bu Bus Dah Dam
Die Dor Dre Eb Eck Eh Ei En Er Fa Fe Fi Fo Fra Frei Fri Fu Ga Ge Gla Gra Gro Gu Ha He Hei Hel
Her Hil Ho Hu Ja Jo Ka Ke Ki Kla Kle Kno Ko Kra Kre Ku La Le Li Lo Lu Ma Me Mi Mo Mu Na Ne Ni
No Ob Or Pa Pe Pf Po Pra Ra Re Ri Ro Ru Sa Sch Schi Schu Se Si So Sta Ste Sto Stu Ta Te Ti To
Tra Tu Ul Vo Wa We Wei Wi Wo Wu Za Ze Zi Zo""".split()
MIDS = """b ber ch d del der ed el en er ers es f g h k l le lin m man mer n ner p r re ri s sel
st t ter u w z""".split()
TAILS = """ach au bach berg dorf er feld hardt hof horn ke kamp lein ler mann mayer meier ner
rich ring roth s sen ski stein ter wald werth witz""".split()
COMPANIES = """Contoso Fabrikam Northwind Tailspin Wingtip Litware Adatum Proseware Lucerne
Woodgrove Alpine Coho Humongous Margie Trey Wide""".split()


def people(n):
    rng = random.Random(365)
    for i in range(n):
        given = rng.choice(GIVEN)
        sur = rng.choice(HEADS) + rng.choice(MIDS) + rng.choice(TAILS)
        company = f"{rng.choice(COMPANIES)} {rng.choice(['GmbH', 'AG', 'KG', 'SE'])}"
        business = f"+49 30 {20000000 + i:08d}"  # unique: no merging, one hit per number
        mobile = f"+49 151 {10000000 + i:08d}"
        yield i, given, sur, company, business, mobile


def main():
    n, db, ldif, qdir = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    if db == "-":
        con, site = None, None
    else:
        con = sqlite3.connect(db)
        (site,) = con.execute("SELECT site_id FROM sites").fetchone()
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=OFF")
    now = "2026-01-01T00:00:00Z"
    samples = []
    rng = random.Random(7)
    with open(ldif if con else "/dev/null", "w") as out:
        out.write("dn: dc=bench\nobjectClass: dcObject\nobjectClass: organization\n"
                  "dc: bench\no: bench\n\n"
                  "dn: ou=people,dc=bench\nobjectClass: organizationalUnit\nou: people\n\n")
        rows, nums = [], []
        for i, given, sur, company, business, mobile in people(n):
            cid = f"bench-{i:07d}"
            name = f"{given} {sur}"
            mail = f"{given}.{sur}.{i}@example.com".lower()
            rows.append((site, cid, "org", f"src-{i}", "directory", None, "org_contact", None,
                         None, name, given, sur, company, None, None, json.dumps([mail]), None,
                         now))
            e_b = business.replace(" ", "")
            e_m = mobile.replace(" ", "")
            nums.append((site, "contact", cid, 0, "business", business, e_b, 0))
            nums.append((site, "contact", cid, 1, "mobile", mobile, e_m, 0))
            out.write(f"dn: uid={cid},ou=people,dc=bench\nobjectClass: inetOrgPerson\n"
                      f"uid: {cid}\ncn: {name}\nsn: {sur}\ngivenName: {given}\n"
                      f"displayName: {name}\no: {company}\nmail: {mail}\n"
                      f"telephoneNumber: {business}\nmobile: {mobile}\n\n")
            if len(rows) >= 20000:
                flush(con, rows, nums)
            if rng.random() < 0.02:
                samples.append((sur, i))
        flush(con, rows, nums)
    if con:
        con.commit()
    # Candidate prefixes of 4..7 letters of sampled surnames; count exactly over all names.
    cands = set()
    for sur, _ in samples:
        for k in range(4, min(len(sur), 8)):
            cands.add(sur[:k].lower())
    counts = {p: 0 for p in cands}
    lens = sorted({len(p) for p in cands})
    for _, given, sur, _, _, _ in people(n):
        g, s = given.lower(), sur.lower()
        seen = set()
        for k in lens:
            for v in (g, s):
                p = v[:k]
                if p in counts and p not in seen:
                    seen.add(p)
                    counts[p] += 1
    # The 200 prefixes whose hit counts are nearest 50 (all within 40..60 at 1M entries).
    picked = sorted((p for p, c in counts.items() if c > 0), key=lambda p: (abs(counts[p] - 50), p))
    picked = picked[:200]
    if not picked:
        sys.exit("no name prefix has hits: too few entries for the name queries")
    rng.shuffle(picked)
    hits = [counts[p] for p in picked]
    with open(f"{qdir}/name.pbx365", "w") as a, open(f"{qdir}/name.slapd", "w") as b:
        for p in picked:
            f = f"(|(cn={p}*)(sn={p}*))\t{counts[p]}\n"
            a.write(f)
            b.write(f)
    idx = [rng.randrange(n) for _ in range(1000)]
    with open(f"{qdir}/number.pbx365", "w") as a, open(f"{qdir}/number.slapd", "w") as b, \
            open(f"{qdir}/urls.txt", "w") as u:
        for i in idx:
            national = f"030 {20000000 + i:08d}"
            stored = f"+49 30 {20000000 + i:08d}"
            a.write(f"(|(telephoneNumber={national})(mobile={national}))\t1\n")
            b.write(f"(|(telephoneNumber={stored})(mobile={stored}))\t1\n")
            u.write(f"/lookup?number=030{20000000 + i:08d}\n")
    print(f"{n} entries; {len(picked)} name prefixes ({min(hits)}..{max(hits)} hits each), "
          f"{len(idx)} numbers (1 hit each)", file=sys.stderr)


def flush(con, rows, nums):
    if con is None:
        rows.clear()
        nums.clear()
        return
    con.executemany("INSERT INTO contacts (site_id, id, scope, source_id, phonebook, owner_user_id,"
                    " source, mailbox, folder_id, display_name, given_name, surname, company,"
                    " department, job_title, emails, change_key, updated_at) VALUES"
                    " (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    con.executemany("INSERT INTO phone_numbers (site_id, owner_kind, owner_id, position, kind, raw,"
                    " e164, invalid) VALUES (?,?,?,?,?,?,?,?)", nums)
    rows.clear()
    nums.clear()


if __name__ == "__main__":
    main()
