# Application classes the benchmark corpus pickles (module `appmodels`), importable by 2.7 and 3.x.
# bench/py_decode.py and bench/redispy_audit.py put this folder on sys.path so that pickle.loads
# finds them, as the real app would.


class User(object):
    def __init__(self, uid, name, email, roles, prefs):
        self.id = uid
        self.name = name
        self.email = email
        self.roles = roles
        self.prefs = prefs


class OrderLine(object):
    def __init__(self, sku, qty, price, note):
        self.sku = sku
        self.qty = qty
        self.price = price
        self.note = note
