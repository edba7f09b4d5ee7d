"""fastText (fasttext-wheel) subword skip-gram with its own defaults (minn 3, maxn 6, 2M buckets,
dim 100, ws 5, neg 5, lr 0.05, t 1e-4, minCount 5) as a whole job: trains and saves its .bin.
Usage: peer_fasttext_subwords.py CORPUS_LINES OUT.bin EPOCHS THREADS BUCKETS"""

import sys

import fasttext

corpus, out, epochs, threads, buckets = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
model = fasttext.train_unsupervised(corpus, model="skipgram", epoch=epochs, thread=threads, bucket=buckets, verbose=0)
model.save_model(out)
print("done")
