"""fastText (fasttext-wheel) word-only skip-gram with word2vec.c's settings, whole job; writes
a word2vec text file. Usage: peer_fasttext.py CORPUS_LINES OUT.txt EPOCHS THREADS"""

import sys

import fasttext

corpus, out, epochs, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
model = fasttext.train_unsupervised(corpus, model="skipgram", dim=100, ws=5, neg=5, minCount=5, t=1e-3,
                                    lr=0.025, epoch=epochs, thread=threads, minn=0, maxn=0, verbose=0)
words = model.get_words()
with open(out, "w", encoding="utf-8") as fh:
    fh.write(f"{len(words)} {model.get_dimension()}\n")
    for w in words:
        fh.write(w + " " + " ".join(f"{x:.6f}" for x in model.get_word_vector(w)) + "\n")
print("done")
