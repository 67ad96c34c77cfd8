"""Fault tests: real processes are killed, stopped and restarted while snapshots flow, and
every test counts exactly (0 lost, 0 duplicated, stored == produced), never "> 0".

=========================  =====================================================  =========
file                       fault                                                  backends
=========================  =====================================================  =========
test_server_kill.py        ``kill -9`` of ``hashfleet server`` mid-ingest, twice  SQLite, PG
test_server_outage.py      server SIGTERM, down 20 s (``HASHFLEET_FAULT_OUTAGE_S``  SQLite
                           = 600 for the 10-minute run), restart
test_agent_kill.py         ``kill -9`` of ``hashfleet agent`` with a full spool   SQLite
test_pg_restart.py         private PostgreSQL cluster: ``pg_ctl restart -m fast``  private PG
                           then ``-m immediate`` under ingest
test_nats_restart.py       private ``nats-server -js``: SIGTERM / SIGKILL, restart  NATS bus
=========================  =====================================================  =========

The system PostgreSQL and NATS services are never stopped: the PostgreSQL backend of
test_server_kill.py is a database of its own on the test server
(:mod:`tests.support.databases`), the restart tests run private servers
(:mod:`tests.support.processes`). The accounting is in :mod:`tests.faults.harness`.
``pytest -s tests/faults`` prints what each run saw (how many snapshots, whether the batch
in flight at a kill had been committed).
"""
