"""A Northwind-shaped warehouse (the classic sample database, as its documentation describes its
tables) in a DuckDB file, with dirt planted, for examples/northwind/mapping.yaml:

    Customers        CustomerID as text ('ALFKI'-like), CompanyName, ContactName, Country, Phone in
                     local forms ('030-0074321'), and an Email column (Northwind 2007 has one)
    Categories       CategoryID, CategoryName ('Grains/Cereals')
    Products         UnitPrice, UnitsInStock, Discontinued; no variants
    Orders           OrderDate, ShippedDate as DATEs, ShipCountry; no update time
    "Order Details"  a table name with a space; (OrderID, ProductID) is the key; UnitPrice,
                     Quantity, Discount a REAL fraction 0..0.25

README.md lists each planted row with its verdict; tests/world/test_northwind.py checks them.

    python examples/northwind/generate.py OUT.duckdb
"""

import random
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb


def build(path: str | Path, seed: int = 22) -> Path:
    path = Path(path)
    path.unlink(missing_ok=True)
    rng = random.Random(seed)
    con = duckdb.connect(str(path))
    con.execute("""CREATE TABLE Customers (CustomerID VARCHAR, CompanyName VARCHAR, ContactName VARCHAR,
        ContactTitle VARCHAR, Address VARCHAR, City VARCHAR, Region VARCHAR, PostalCode VARCHAR,
        Country VARCHAR, Phone VARCHAR, Fax VARCHAR, Email VARCHAR)""")
    con.execute("CREATE TABLE Categories (CategoryID INTEGER, CategoryName VARCHAR, Description VARCHAR)")
    con.execute("""CREATE TABLE Products (ProductID INTEGER, ProductName VARCHAR, SupplierID INTEGER,
        CategoryID INTEGER, QuantityPerUnit VARCHAR, UnitPrice DECIMAL(10,4), UnitsInStock SMALLINT,
        UnitsOnOrder SMALLINT, ReorderLevel SMALLINT, Discontinued BOOLEAN)""")
    con.execute("""CREATE TABLE Orders (OrderID INTEGER, CustomerID VARCHAR, EmployeeID INTEGER, OrderDate DATE,
        RequiredDate DATE, ShippedDate DATE, ShipVia INTEGER, Freight DECIMAL(10,4), ShipName VARCHAR,
        ShipCity VARCHAR, ShipCountry VARCHAR)""")
    con.execute("""CREATE TABLE "Order Details" (OrderID INTEGER, ProductID INTEGER, UnitPrice DECIMAL(10,4),
        Quantity SMALLINT, Discount REAL)""")
    cats = ["Beverages", "Condiments", "Confections", "Dairy Products", "Grains/Cereals", "Meat/Poultry",
            "Produce", "Seafood"]
    for i, c in enumerate(cats, 1):
        con.execute("INSERT INTO Categories VALUES (?, ?, ?)", [i, c, f"{c} of all kinds"])
    countries = ["Germany", "UK", "USA", "Brazil", "France", "Sweden", "Mexico", "Spain"]
    first = ["Maria", "Ana", "Antonio", "Thomas", "Christina", "Hanna", "Frédérique", "Martín", "Elizabeth", "Victoria"]
    last = ["Anders", "Trujillo", "Moreno", "Hardy", "Berglund", "Moos", "Citeaux", "Sommer", "Lincoln", "Ashworth"]
    custs = []
    for i in range(250):
        cid = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(5)) + str(i)
        name = f"{rng.choice(first)} {rng.choice(last)}"
        custs.append(cid)
        con.execute("INSERT INTO Customers VALUES (?, ?, ?, 'Owner', 'Obere Str. 57', 'Berlin', NULL, '12209', ?, ?, NULL, ?)",
                    [cid, f"Company {i}", name, rng.choice(countries), "030-0074321", f"{cid.lower()}@northwind.example"])
    plants = [
        ("BADEM", "Bad Email GmbH", "Bad Email", "maria at alfki.de"),            # NWC1
        (None, "No Ids Ltd", "Nobody", None),                                       # NWC2
        (None, "Solo Email SA", "Solo", "solo@example.com"),                        # NWC3
        ("SHARA", "Shared A", "Shared A", "shared@example.com"),                    # NWC4
        ("SHARB", "Shared B", "Shared B", "shared@example.com"),                    # NWC4
        ("DUPLI", "Dup One", "Dup Version One", "dupli@example.com"),                # NWC5
        ("DUPLI", "Dup Two", "Dup Version Two", "dupli@example.com"),                # NWC5
        ("UNICO", "Bücher & Söhne", "Zoë Çelik-Ünal 名前", "zoë@bücher.example"),      # NWC6
        ("UPPER", "Upper Co", "Upper Case", "  Upper.Case@Example.COM "),           # NWC7
        ("L" * 101, "Long Id", "Long Id", "longid@example.com"),                    # NWC8
        ("LONGN", "Long Name", "N" * 150, "longname@example.com"),                  # NWC9
        ("DOTDT", "Dot Dot", "Dot Dot", "a..b@example.com"),                        # NWC10
        ("BLANK", "Blank Email", "Blank Email", "   "),                            # NWC11
        ("EMOJI", "Emoji Co", "😀" * 50 + "x", "emoji@example.com"),                 # NWC12: 101 UTF-16 units
    ]
    for cid, comp, contact, email in plants:
        con.execute("INSERT INTO Customers VALUES (?, ?, ?, 'Owner', 'Str. 1', 'Berlin', NULL, '1', 'Germany', '030-0074321', NULL, ?)",
                    [cid, comp, contact, email])
    pnames = ["Chai", "Chang", "Aniseed Syrup", "Chef Anton's Cajun Seasoning", "Grandma's Boysenberry Spread",
              "Uncle Bob's Organic Dried Pears", "Northwoods Cranberry Sauce", "Mishi Kobe Niku", "Ikura",
              "Queso Cabrales", "Konbu", "Tofu", "Genen Shouyu", "Pavlova", "Alice Mutton", "Carnarvon Tigers",
              "Teatime Chocolate Biscuits", "Sir Rodney's Marmalade", "Gustaf's Knäckebröd", "Tunnbröd",
              "Guaraná Fantástica", "Côte de Blaye", "Röd Kaviar", "Pâté chinois"]
    for i in range(1, 78):
        con.execute("INSERT INTO Products VALUES (?, ?, 1, ?, '10 boxes x 20 bags', ?, ?, 0, 10, ?)",
                    [i, f"{pnames[i % len(pnames)]} {i}", rng.randint(1, 8), round(rng.uniform(2.5, 263.5), 2),
                     rng.randint(0, 120), i % 11 == 0])
    con.execute("INSERT INTO Products VALUES (78, 'Negative Price', 1, 1, '1', -5.00, 10, 0, 0, false)")   # NWP1
    con.execute("INSERT INTO Products VALUES (79, 'No Category', 1, NULL, '1', 5.00, 10, 0, 0, false)")    # NWP2
    con.execute("INSERT INTO Products VALUES (80, 'Gone', 1, 2, '1', 5.00, 0, 0, 0, true)")                # NWP3
    con.execute("INSERT INTO Products VALUES (81, NULL, 1, 2, '1', 5.00, 3, 0, 0, false)")                 # NWP4
    con.execute("INSERT INTO Products VALUES (82, 'Negative Stock', 1, 2, '1', 5.00, -3, 0, 0, false)")    # NWP5
    con.execute("INSERT INTO Products VALUES (83, 'No Price', 1, 2, '1', NULL, 3, 0, 0, false)")           # NWP6
    con.execute("INSERT INTO Products VALUES (84, 'Bad Category', 1, 99, '1', 7.00, 3, 0, 0, false)")      # NWP7
    d0 = datetime(1996, 7, 4)
    for n in range(600):
        oid = 10248 + n
        day = (d0 + timedelta(days=n // 2)).date()
        country = rng.choice(countries)
        con.execute("INSERT INTO Orders VALUES (?, ?, 1, ?, ?, ?, 1, ?, 'Ship', 'City', ?)",
                    [oid, rng.choice(custs), day, day + timedelta(days=28),
                     (day + timedelta(days=5)) if rng.random() < 0.9 else None, round(rng.uniform(1, 300), 2), country])
        for pid in rng.sample(range(1, 78), rng.choice([1, 2, 3, 4, 5])):
            con.execute('INSERT INTO "Order Details" VALUES (?, ?, ?, ?, ?)',
                        [oid, pid, round(rng.uniform(2.5, 263.5), 2), rng.randint(1, 120), rng.choice([0, 0, 0, 0.05, 0.1, 0.15, 0.2, 0.25])])

    def order(oid, cust, day, country, lines, shipped=True):
        con.execute("INSERT INTO Orders VALUES (?, ?, 1, ?, NULL, ?, 1, 10, 'Ship', 'City', ?)",
                    [oid, cust, day, day if (shipped and day) else None, country])
        for pid, price, qty, disc in lines:
            con.execute('INSERT INTO "Order Details" VALUES (?, ?, ?, ?, ?)', [oid, pid, price, qty, disc])

    D = date(1998, 5, 1)
    order(20001, custs[0], D, "Germany", [])                                           # NWO1 no lines
    order(20002, custs[0], D, "Germany", [(1, 10.0, -2, 0.0), (2, 5.0, 1, 0.0)])        # NWO2 negative qty
    order(20003, custs[0], D, "Germany", [(1, 10.0, 0, 0.0)])                          # NWO3 zero qty
    order(20004, custs[0], D, "Germany", [(1, -10.0, 1, 0.0)])                         # NWO4 negative price
    order(20005, custs[0], None, "Germany", [(1, 10.0, 1, 0.0)])                       # NWO5 OrderDate NULL
    con.execute('INSERT INTO "Order Details" VALUES (29999, 3, 10.0, 1, 0)')            # NWO6 orphan line
    order(20007, None, D, "Germany", [(1, 10.0, 1, 0.0)])                              # NWO7 CustomerID NULL
    order(20008, custs[0], D, "UK", [(4, 20.0, 3, 0.25)])                               # NWO8 discount 0.25
    order(20009, custs[0], D, "USA", [(5, 20.0, 3, 0.0), (5, 20.0, 4, 0.0)])            # NWO9 (OrderID, ProductID) twice
    order(20010, "NOSUCH", D, "USA", [(6, 20.0, 1, 0.0)])                              # NWO10 unknown customer
    order(20011, custs[0], D, "Atlantis", [(7, 20.0, 1, 0.0)])                          # NWO11 currency unknown
    order(20012, custs[0], D, "Brazil", [(8, 20.0, 1, 0.0), (9, 30.0, 2, 0.1)])         # NWO12 BRL, two lines
    order(20013, custs[0], D, "Germany", [(None, 20.0, 1, 0.0)])                       # NWO13 line ProductID NULL
    order(20014, custs[0], D, "Germany", [(10, 0.1, 3, 0.0)])                          # NWO14 0.1*3 float total
    con.close()
    return path


if __name__ == "__main__":
    print(build(sys.argv[1] if len(sys.argv) > 1 else "northwind.duckdb"))
