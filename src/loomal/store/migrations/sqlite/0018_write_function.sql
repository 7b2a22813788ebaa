-- PostgreSQL's 0018 installs a function that runs a credential write in one
-- round trip. SQLite runs the write script in its own process already: nothing
-- to do (the numbers of the two dialects stay the same).
SELECT 1;
