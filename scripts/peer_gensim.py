"""gensim 4.4 with word2vec.c's skip-gram settings, as a whole job: vocabulary + training +
writing word2vec text. Usage: peer_gensim.py CORPUS_LINES OUT.txt EPOCHS THREADS [iterable|corpus_file]

CORPUS_LINES must hold lines of ~1000 tokens (see benchlib.lines_of_tokens).
Prints one line: ``train_seconds=<s>``.
"""

import sys

from gensim.models import Word2Vec
from gensim.models.word2vec import LineSentence

corpus, out, epochs, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
mode = sys.argv[5] if len(sys.argv) > 5 else "iterable"
settings = dict(vector_size=100, window=5, min_count=5, sample=1e-3, negative=5, hs=0, sg=1, alpha=0.025,
                min_alpha=0.0001, workers=threads, epochs=epochs, seed=1)
if mode == "corpus_file":
    model = Word2Vec(corpus_file=corpus, **settings)
else:
    model = Word2Vec(sentences=LineSentence(corpus), **settings)
model.wv.save_word2vec_format(out)
print("done")
