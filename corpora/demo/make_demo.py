"""Writes corpora/demo/incident-werkzeug-py27.bin the way the incident's cache layer did.

Run with Python 2.7 (`$(pyenv root)/versions/2.7.18/bin/python corpora/demo/make_demo.py`):
Werkzeug 0.16.1's RedisCache.dump_object is `b'!' + pickle.dumps(value)` with cPickle's default
protocol (0); the cached page is a py2 `str` holding UTF-8 (a curly apostrophe, e2 80 99).
"""
import cPickle
import os

page = {
    'title': 'Release notes',
    'body': 'Nothing to see here. ' * 40 + 'It\xe2\x80\x99s fixed.',
    'views': 1234,
}
data = b'!' + cPickle.dumps(page)
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'incident-werkzeug-py27.bin')
with open(out, 'wb') as f:
    f.write(data)
