"""gensim 4.4 as a whole job: vocabulary + training + writing word2vec text, with word2vec.c's
skip-gram settings (configs/word2vec.yaml) or its CBOW demo's (configs/word2vec-cbow.yaml).
Usage: peer_gensim.py CORPUS_LINES OUT.txt EPOCHS THREADS [iterable|corpus_file] [sg|cbow] [SEED] [DIM] [MIN_COUNT]

CORPUS_LINES must hold lines of ~1000 tokens (see benchlib.lines_of_tokens).
"""

import sys

from gensim.models import Word2Vec
from gensim.models.word2vec import LineSentence

corpus, out, epochs, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
mode = sys.argv[5] if len(sys.argv) > 5 else "iterable"
arch = sys.argv[6] if len(sys.argv) > 6 else "sg"
seed = int(sys.argv[7]) if len(sys.argv) > 7 else 1
if arch == "cbow":  # word2vec.c's demo-word.sh: -cbow 1 -window 8 -negative 25 -sample 1e-4 -alpha 0.05
    settings = dict(vector_size=100, window=8, min_count=5, sample=1e-4, negative=25, hs=0, sg=0, cbow_mean=1,
                    alpha=0.05, min_alpha=0.000005)
else:
    settings = dict(vector_size=100, window=5, min_count=5, sample=1e-3, negative=5, hs=0, sg=1, alpha=0.025,
                    min_alpha=0.0001)
settings.update(workers=threads, epochs=epochs, seed=seed)
if len(sys.argv) > 8:  # scripts/bench_scale.py: other dimensions and vocabulary sizes
    settings.update(vector_size=int(sys.argv[8]), min_count=int(sys.argv[9]))
if mode == "corpus_file":
    model = Word2Vec(corpus_file=corpus, **settings)
else:
    model = Word2Vec(sentences=LineSentence(corpus), **settings)
model.wv.save_word2vec_format(out)
print("done")
