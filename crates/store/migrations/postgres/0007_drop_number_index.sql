-- Numbers are looked up by the directory's own index (built from this store and kept current
-- through the change log), never through SQL. The index on (site_id, e164) served no query of
-- the product, and it was the one index a sync wrote at random: every stored number landed on
-- its own page, so each mailbox's commit rewrote a page per number to the write-ahead log and
-- again at the checkpoint. Dropping it cut a 10,000-user full sync's CPU by about an eighth
-- (bench/README.md). `Store::find_by_e164` still answers, by a scan of the site's numbers.
DROP INDEX IF EXISTS phone_numbers_e164;
