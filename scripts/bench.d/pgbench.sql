-- The same row lookups as the wrk run, straight against PostgreSQL.
\set w random(0, 7)
\set n random(0, :maxn)
SELECT * FROM reproj_data.cars WHERE car_id = 'car-' || :w || '-' || :n;
