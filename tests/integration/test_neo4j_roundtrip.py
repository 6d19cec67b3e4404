"""The fixtures give tests a real Neo4j reached over Bolt with the Python driver."""
import pytest

pytestmark = pytest.mark.neo4j


def test_write_then_read_over_bolt(neo4j_driver):
    neo4j_driver.execute_query(
        "CREATE (:Entity {id: $id, name: $name})-[:treats]->(:Entity {id: 'headache', name: 'headache'})",
        id="aspirin",
        name="アスピリン",
    )

    records = neo4j_driver.execute_query(
        "MATCH (a:Entity {id: 'aspirin'})-[r]->(b:Entity) RETURN a.name AS name, type(r) AS relation, b.id AS tail"
    ).records

    assert len(records) == 1
    assert records[0]["name"] == "アスピリン"
    assert records[0]["relation"] == "treats"
    assert records[0]["tail"] == "headache"


def test_server_is_neo4j_5(neo4j_driver):
    record = neo4j_driver.execute_query("CALL dbms.components() YIELD name, versions").records[0]

    assert record["name"] == "Neo4j Kernel"
    assert record["versions"][0].startswith("5.")


def test_clear_database_removes_data_and_schema(neo4j_driver):
    from tests.conftest import clear_database

    neo4j_driver.execute_query("CREATE CONSTRAINT probe_id IF NOT EXISTS FOR (p:Probe) REQUIRE p.id IS UNIQUE")
    neo4j_driver.execute_query("UNWIND range(1, 50) AS i CREATE (:Probe {id: i})-[:next]->(:Probe {id: -i})")

    clear_database(neo4j_driver)

    nodes = neo4j_driver.execute_query("MATCH (n) RETURN count(n) AS n").records[0]["n"]
    constraints = neo4j_driver.execute_query("SHOW CONSTRAINTS YIELD name RETURN count(*) AS n").records[0]["n"]
    assert nodes == 0
    assert constraints == 0
