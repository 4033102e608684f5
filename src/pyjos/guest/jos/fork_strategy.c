/*
 * Linked into programs of a student's JOS tree when `pyjos run --jos DIR
 * --fork S` or `pyjos grade --fork S` asks for a fork strategy: the loader
 * stores S (enum fork_strategy of pyjos's inc/lib.h: 0 dumb, 1 cow, 2 batch,
 * 3 kernel) here before the program starts.  A fork() of the tree's own
 * that wants to honour --fork declares `extern int pyjos_fork_strategy;`.
 * Weak, so that the tree's own definition wins.
 */
__attribute__((weak)) int pyjos_fork_strategy = 1;
