-- The baseline people write by hand: cars v2 replayed by a PL/pgSQL loop, one statement per event.
-- Also an independent fold: the bench compares its result with reproj's rebuild.
DROP TABLE IF EXISTS naive_cars, naive_names;
CREATE TABLE naive_cars (car_id text PRIMARY KEY, creator text, color text, sold boolean, customer_id text, customer_name text);
CREATE TABLE naive_names (customer_id text PRIMARY KEY, name text);
CREATE INDEX ON naive_cars (customer_id);
DO $$
DECLARE e record;
BEGIN
  FOR e IN SELECT stream_id, event_type, data FROM reproj.events ORDER BY global_position LOOP
    CASE e.event_type
    WHEN 'car.created' THEN
      INSERT INTO naive_cars VALUES (e.stream_id, e.data->>'by', e.data->>'color', false, NULL, NULL)
      ON CONFLICT (car_id) DO UPDATE SET creator = excluded.creator, color = excluded.color, sold = false,
                                        customer_id = NULL, customer_name = NULL;
    WHEN 'car.repainted' THEN
      INSERT INTO naive_cars (car_id, color, sold) VALUES (e.stream_id, e.data->>'color', false)
      ON CONFLICT (car_id) DO UPDATE SET color = excluded.color;
    WHEN 'car.sold' THEN
      INSERT INTO naive_cars (car_id, sold, customer_id, customer_name)
      VALUES (e.stream_id, true, e.data->>'to', (SELECT name FROM naive_names WHERE customer_id = e.data->>'to'))
      ON CONFLICT (car_id) DO UPDATE SET sold = true, customer_id = excluded.customer_id,
                                        customer_name = excluded.customer_name;
    WHEN 'customer.created', 'customer.renamed' THEN
      INSERT INTO naive_names VALUES (e.stream_id, e.data->>'name')
      ON CONFLICT (customer_id) DO UPDATE SET name = excluded.name;
      UPDATE naive_cars SET customer_name = e.data->>'name' WHERE customer_id = e.stream_id;
    ELSE NULL;
    END CASE;
  END LOOP;
END $$;
